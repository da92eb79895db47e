"""What a task says happened (issue 10, items 4-6): skipped faces, grouped errors,
failed when nothing succeeded, the failure limit, outcomes on the pages, progress
per batch, and a cancel that leaves no subtask in progress."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from tests.conftest import ADMIN, HTML
from tests.integration.tasks_helpers import (
    create_gc,
    make_account,
    make_faces,
    poll_until,
    run_until_idle,
    settings,
    subtask_rows,
    task,
)
from tests.integration.test_pages import page_sign_in
from tests.integration.test_tasks_extract import add_sample, grey_png
from tests.integration.test_tasks_pages import post_form, signed_in
from webapp import db
from webapp.extraction.samples import face_photos
from webapp.tasks.worker import Worker


async def extract(client: Any, filters: dict[str, Any], **options: Any) -> int:
    response = await client.post(
        "/4/tasks/additional_extract",
        headers=ADMIN,
        json={
            "content": {
                "filters": {"objects_type": "faces", **filters},
                "extraction_target": "face_descriptor",
                "options": options,
            }
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["task_id"])


async def errors_of(client: Any, task_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/4/tasks/{task_id}/errors?page_size=100", headers=ADMIN)
    return response.json()["errors"]  # type: ignore[no-any-return]


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def row_of(html: str, task_id: int) -> str:
    match = re.search(rf'<tr data-testid="task-row" data-task-id="{task_id}">.*?</tr>', html, re.S)
    assert match is not None
    return squeeze(match.group(0))


async def test_faces_without_samples_are_skipped_not_failed(client, app, monkeypatch):
    await page_sign_in(client)
    monkeypatch.setattr(app.state, "settings", settings(subtask_size=150))
    account = await make_account()
    await make_faces(account, 300)
    task_id = await extract(client, {"account_id": str(account)})
    await run_until_idle(settings())

    done = await task(client, task_id)
    assert done["task_status"] == 5
    assert await errors_of(client, task_id) == []
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert (result["extracted_count"], result["skipped_count"], result["failed_count"]) == (
        0,
        300,
        0,
    )
    subtasks = await subtask_rows(task_id)
    assert len(subtasks) == 2 and all(s["subtask_status"] == 5 for s in subtasks)
    assert sum(s["progress"]["skipped"] for s in subtasks) == 300

    listed = row_of((await client.get("/tasks", headers=HTML)).text, task_id)
    assert 'data-testid="task-row-status">done<' in listed
    assert ">300<" in listed and "0 extracted" in listed
    page = squeeze((await client.get(f"/tasks/{task_id}", headers=HTML)).text)
    assert "300 of 300 objects · 100%" in page and "300 skipped" in page


async def test_only_faces_that_have_a_sample_filter(client):
    await page_sign_in(client)
    photos = face_photos()
    account = await make_account()
    faces = await make_faces(account, 40)
    await add_sample(account, faces[0], photos["barack_obama"][0])
    await add_sample(account, faces[1], photos["joe_biden"][0])
    task_id = await extract(client, {"account_id": str(account), "has_sample": True})
    page = squeeze((await client.get(f"/tasks/{task_id}", headers=HTML)).text)
    assert "0 of 2 objects" in page  # planned: only the faces with a sample
    await run_until_idle(settings())
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert (result["extracted_count"], result["skipped_count"]) == (2, 0)
    assert sorted(result["face_ids"]) == sorted(faces[:2])


async def test_the_form_offers_the_sample_filter(client):
    account = await make_account()
    await signed_in(client)
    page = (await client.get("/tasks", headers=HTML)).text
    assert 'name="content.filters.has_sample"' in page
    assert 'name="content.options.max_failures"' in page
    response = await post_form(
        client,
        "/tasks/additional_extract",
        [
            ("content.extraction_target", "face_descriptor"),
            ("content.filters.objects_type", "faces"),
            ("content.filters.account_id", str(account)),
            ("content.filters.has_sample", "false"),
            ("content.filters.has_sample", "true"),
            ("content.options.max_failures", "25"),
        ],
    )
    assert response.status_code == 303, response.text
    created = await task(client, int(response.headers["location"].rsplit("/", 1)[1]))
    assert created["content"]["filters"]["has_sample"] is True
    assert created["content"]["options"]["max_failures"] == 25


async def test_failures_make_one_error_per_subtask_and_nothing_succeeded_fails(
    client, app, monkeypatch
):
    await page_sign_in(client)
    monkeypatch.setattr(app.state, "settings", settings(subtask_size=20))
    account = await make_account()
    faces = await make_faces(account, 36)
    grey = grey_png()
    for face in faces:
        await add_sample(account, face, grey)
    task_id = await extract(client, {"account_id": str(account)})
    await run_until_idle(settings(extraction_batch_size=4))

    assert (await task(client, task_id))["task_status"] == 3
    subtasks = await subtask_rows(task_id)
    assert len(subtasks) == 2 and all(s["subtask_status"] == 3 for s in subtasks)
    errors = await errors_of(client, task_id)
    assert len(errors) == len(subtasks)  # 36 failures, one row per subtask and code
    assert {e["error_code"] for e in errors} == {29102}
    infos = [json.loads(e["additional_info"]) for e in errors]
    assert sum(info["count"] for info in infos) == 36
    for error, info in zip(errors, infos, strict=True):
        assert 1 <= len(info["first_ids"]) <= 10 and set(info["first_ids"]) <= set(faces)
        if info["count"] > 1:
            assert f"and {info['count'] - 1} more" in error["detail"]
    count = (await client.get(f"/4/tasks/{task_id}/errors/count", headers=ADMIN)).json()
    assert count == {"count": 2}
    result = await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)
    assert result.json()["error_code"] == 28020  # a failed task has no result
    listed = row_of((await client.get("/tasks", headers=HTML)).text, task_id)
    assert 'data-testid="task-row-status">failed<' in listed and ">36<" in listed


async def test_some_failures_end_done_with_failures(client):
    await page_sign_in(client)
    photos = face_photos()
    account = await make_account()
    good, bad, _without_sample = await make_faces(account, 3)
    await add_sample(account, good, photos["barack_obama"][0])
    await add_sample(account, bad, grey_png())
    task_id = await extract(client, {"account_id": str(account)})
    await run_until_idle(settings())
    assert (await task(client, task_id))["task_status"] == 5
    page = squeeze((await client.get(f"/tasks/{task_id}", headers=HTML)).text)
    assert 'data-testid="task-status">done with failures<' in page
    assert "1 extracted" in page and "1 skipped" in page and "1 failed" in page
    assert 'class="badge done-with-failures"' in page  # the subtask's badge too
    listed = row_of((await client.get("/tasks", headers=HTML)).text, task_id)
    assert "done with failures" in listed


async def test_max_failures_stops_the_task_failed(client, app, monkeypatch):
    monkeypatch.setattr(app.state, "settings", settings(subtask_size=10))
    account = await make_account()
    faces = await make_faces(account, 30)
    grey = grey_png()
    for face in faces:
        await add_sample(account, face, grey)
    task_id = await extract(client, {"account_id": str(account)}, max_failures=3)
    await run_until_idle(settings(extraction_batch_size=2))

    stopped = await task(client, task_id)
    assert stopped["task_status"] == 3
    subtasks = await subtask_rows(task_id)
    assert len(subtasks) == 3
    assert all(s["subtask_status"] in (2, 3) for s in subtasks)  # none left open
    assert sum(s["progress"].get("failed", 0) for s in subtasks) < 30
    codes = [e["error_code"] for e in await errors_of(client, task_id)]
    assert 29320 in codes


async def test_max_failures_is_checked(client):
    response = await client.post(
        "/4/tasks/additional_extract",
        headers=ADMIN,
        json={
            "content": {
                "filters": {"objects_type": "faces"},
                "extraction_target": "face_descriptor",
                "options": {"max_failures": 0},
            }
        },
    )
    assert response.status_code == 400 and response.json()["error_code"] == 12022


async def test_the_bar_moves_per_batch_with_rate_and_eta(client):
    await page_sign_in(client)
    account = await make_account()
    await make_faces(account, 100, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    page = squeeze((await client.get(f"/tasks/{task_id}", headers=HTML)).text)
    assert "0 of 100 objects · 0%" in page and "not yet" in page

    slow = settings(gc_batch_size=10, subtask_size=1000, worker_heartbeat_seconds=60)
    worker = Worker(slow, worker_id="slow")

    async def batches(n: int) -> bool:
        return any(s["progress"].get("batches", 0) >= n for s in await subtask_rows(task_id))

    running = asyncio.create_task(worker.run_one())
    try:
        await poll_until(lambda: batches(2))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        (subtask,) = await subtask_rows(task_id)
        seen = subtask["progress"]["handled"]
        assert 20 <= seen < 100  # per batch, within the one part
        poll = await client.get(f"/tasks/{task_id}", headers={**HTML, "HX-Request": "true"})
        text = squeeze(poll.text)
        assert f"{seen} of 100 objects · {seen}%" in text
        assert "0 of 1 part ended" in text
        assert re.search(r'data-testid="task-started">\d{4}-\d\d-\d\d', text)
        assert re.search(r'data-testid="task-duration">\d+ s so far', text)
        assert re.search(r'data-testid="task-rate">[\d,.]+ objects/s', text)
        assert re.search(r'data-testid="task-eta">about \d+', text)
    finally:
        running.cancel()


async def test_a_cancel_leaves_no_subtask_in_progress(client, app, monkeypatch):
    await page_sign_in(client)
    monkeypatch.setattr(app.state, "settings", settings(subtask_size=60))
    account = await make_account()
    await make_faces(account, 300, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    subtasks = await subtask_rows(task_id)
    assert len(subtasks) >= 3
    # One held by a worker that died (no heartbeat will ever come) ...
    await db.fetch(
        "UPDATE subtask SET subtask_status = 1, worker_id = 'dead/0', heartbeat_time = now() "
        "WHERE subtask_id = $1",
        subtasks[-1]["subtask_id"],
    )
    # ... and one a live worker is in the middle of.
    slow = settings(gc_batch_size=5, subtask_size=60, worker_heartbeat_seconds=60)
    working = asyncio.create_task(Worker(slow, worker_id="live/0").run_one())

    async def live_batches() -> bool:
        rows = await subtask_rows(task_id)
        return any(s["progress"].get("batches", 0) >= 2 for s in rows)

    await poll_until(live_batches)
    response = await client.patch(f"/4/tasks/{task_id}", headers=ADMIN)
    assert response.status_code == 204
    # At once: every subtask but the one whose batch is being written right now (a
    # cancel does not wait for a batch), the dead worker's included.
    after_cancel = await subtask_rows(task_id)
    still_open = [s for s in after_cancel if s["subtask_status"] != 2]
    assert len(still_open) <= 1
    assert after_cancel[-1]["subtask_status"] == 2  # the dead worker's

    assert await working is True  # the live worker stopped at its next batch, quietly
    final = await subtask_rows(task_id)
    assert [s["subtask_status"] for s in final] == [2] * len(final)
    handled = sum(s["progress"].get("handled", 0) for s in final)
    left = await db.fetchrow("SELECT count(*) AS n FROM descriptor WHERE descriptor_version = 56")
    assert left is not None and left["n"] == 300 - handled
    page = (await client.get(f"/tasks/{task_id}", headers=HTML)).text
    assert "in progress<" not in page and "in_progress" not in page
