"""Garbage collection end to end: routes, workers, results, cancel, crash recovery."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.conftest import ADMIN
from tests.integration.tasks_helpers import (
    create_gc,
    descriptor_faces,
    failing,
    make_account,
    make_faces,
    poll_until,
    run_until_idle,
    settings,
    subtask_rows,
    task,
)
from webapp import db
from webapp.tasks.worker import Worker, reap


async def batches_done(task_id: int, at_least: int) -> bool:
    return any(s["progress"].get("batches", 0) >= at_least for s in await subtask_rows(task_id))


async def test_gc_removes_exactly_one_descriptor_version(client):
    account = await make_account()
    faces = await make_faces(account, 450, versions=(56, 59))
    task_id = await create_gc(
        client,
        {"target": "face_descriptors", "filters": {"descriptor_version": 56}},
        description="drop v56",
    )
    created = await task(client, task_id)
    assert created["task_status"] == 0 and created["task_type"] == 4
    assert created["count_task_parts_all"] >= 2  # 450 ids, 200 per subtask
    assert created["description"] == "drop v56"

    await run_until_idle(settings())

    done = await task(client, task_id)
    assert done["task_status"] == 5 and done["end_time"]
    assert done["count_task_parts_done"] == done["count_task_parts_all"]
    assert await descriptor_faces(56) == set()
    assert await descriptor_faces(59) == set(faces)
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert result["removed_count"] == 450
    assert sorted(result["removed_ids"]) == sorted(faces)
    assert done["result_id"]


async def test_store_results_false_keeps_no_result(client):
    account = await make_account()
    await make_faces(account, 20, versions=(56,))
    task_id = await create_gc(
        client,
        {
            "target": "face_descriptors",
            "filters": {"descriptor_version": 56},
            "store_results": False,
        },
    )
    await run_until_idle(settings())
    assert (await task(client, task_id))["task_status"] == 5
    response = await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)
    assert response.status_code == 404 and response.json()["error_code"] == 28017
    assert await descriptor_faces(56) == set()


async def test_dry_run_removes_nothing_and_tells_what_would_go(client):
    account = await make_account()
    faces = await make_faces(account, 30, versions=(56,))
    task_id = await create_gc(
        client,
        {"target": "face_descriptors", "filters": {"descriptor_version": 56}, "dry_run": True},
    )
    await run_until_idle(settings())
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert result["dry_run"] is True and result["removed_count"] == 0
    assert result["would_remove_count"] == 30
    assert sorted(result["would_remove_ids"]) == sorted(faces)
    assert await descriptor_faces(56) == set(faces)


async def test_faces_gc_honours_every_filter(client):
    mine, other = await make_account(), await make_account()
    old = await make_faces(mine, 5)
    new = await make_faces(mine, 5)
    theirs = await make_faces(other, 5)
    await db.fetch(
        "UPDATE face SET create_time = '2020-01-01T00:00:00Z' WHERE face_id = ANY($1::uuid[])",
        old + theirs,
    )
    task_id = await create_gc(
        client,
        {
            "target": "faces",
            "filters": {"account_id": str(mine), "create_time__lt": "2021-01-01T00:00:00Z"},
        },
    )
    await run_until_idle(settings())
    assert (await task(client, task_id))["task_status"] == 5
    left = {row["f"] for row in await db.fetch("SELECT face_id::text AS f FROM face")}
    assert left == set(new) | set(theirs)
    stats = (await client.get(f"/4/accounts/{mine}", headers=ADMIN)).json()["stats"]
    assert stats["face_count"] == 5


async def test_faces_gc_by_list(client):
    account = await make_account()
    faces = await make_faces(account, 6)
    list_id = await db.fetchrow(
        "INSERT INTO list (account_id) VALUES ($1) RETURNING list_id", account
    )
    assert list_id is not None
    await db.fetch(
        "INSERT INTO list_face (list_id, face_id) SELECT $1, unnest($2::uuid[])",
        list_id["list_id"],
        faces[:2],
    )
    await create_gc(client, {"target": "faces", "filters": {"list_id": str(list_id["list_id"])}})
    await run_until_idle(settings())
    left = {row["f"] for row in await db.fetch("SELECT face_id::text AS f FROM face")}
    assert left == set(faces[2:])


async def test_events_gc_with_samples(client):
    account = await make_account()
    handler = uuid.uuid4()
    events = await db.fetch(
        "INSERT INTO event (account_id, handler_id) SELECT $1, $2 FROM generate_series(1, 4) "
        "RETURNING event_id",
        account,
        handler,
    )
    keep = await db.fetchrow(
        "INSERT INTO event (account_id) VALUES ($1) RETURNING event_id", account
    )
    await db.fetch(
        "INSERT INTO sample (account_id, event_id, image) SELECT $1, unnest($2::uuid[]), '\\x00'",
        account,
        [row["event_id"] for row in events],
    )
    await create_gc(
        client,
        {"target": "events", "filters": {"handler_id": str(handler)}, "remove_samples": True},
    )
    await run_until_idle(settings())
    left = await db.fetch("SELECT event_id FROM event")
    assert [row["event_id"] for row in left] == [keep["event_id"]]
    assert await db.fetchrow("SELECT 1 FROM sample") is None


async def test_face_attributes_gc_removes_expired_and_unlinked(client):
    account = await make_account()
    (face,) = await make_faces(account, 1)
    rows = await db.fetch(
        """
        INSERT INTO face_attribute (account_id, face_id, expire_time) VALUES
            ($1, $2::uuid, NULL),
            ($1, $2::uuid, now() - interval '1 day'),
            ($1, NULL, NULL),
            ($1, $2::uuid, now() + interval '1 day')
        RETURNING attribute_id
        """,
        account,
        face,
    )
    await create_gc(client, {"target": "face_attributes", "filters": {"account_id": str(account)}})
    await run_until_idle(settings())
    left = {
        row["attribute_id"] for row in await db.fetch("SELECT attribute_id FROM face_attribute")
    }
    assert left == {rows[0]["attribute_id"], rows[3]["attribute_id"]}


async def test_cancel_takes_effect_within_a_batch(client):
    account = await make_account()
    await make_faces(account, 400, versions=(56,))
    slow = settings(gc_batch_size=5, subtask_size=1000)
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    worker = asyncio.create_task(run_until_idle(slow))
    await poll_until(lambda: batches_done(task_id, 1))
    response = await client.patch(f"/4/tasks/{task_id}", headers=ADMIN)
    assert response.status_code == 204
    await asyncio.wait_for(worker, 10)
    cancelled = await task(client, task_id)
    assert cancelled["task_status"] == 2
    assert {s["subtask_status"] for s in await subtask_rows(task_id)} == {2}
    remaining = len(await descriptor_faces(56))
    assert 0 < remaining < 400
    again = await client.patch(f"/4/tasks/{task_id}", headers=ADMIN)
    assert again.status_code == 400 and again.json()["error_code"] == 28019
    assert "cannot be canceled" in again.json()["detail"]


async def test_two_workers_never_run_one_subtask_twice(client, app, monkeypatch):
    monkeypatch.setattr(app.state, "settings", settings(subtask_size=50))
    account = await make_account()
    faces = await make_faces(account, 1000, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    quick = settings(gc_batch_size=20, subtask_size=50)
    ran = await asyncio.gather(run_until_idle(quick, "w1"), run_until_idle(quick, "w2"))
    subtasks = await subtask_rows(task_id)
    assert sum(ran) == len(subtasks) == 20
    assert all(s["attempts"] == 1 and s["subtask_status"] == 5 for s in subtasks)
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert sorted(result["removed_ids"]) == sorted(faces)
    assert len(result["removed_ids"]) == len(set(result["removed_ids"]))


async def test_a_dead_workers_subtask_is_resumed_not_redone(client):
    account = await make_account()
    faces = await make_faces(account, 100, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    slow = settings(
        gc_batch_size=10,
        subtask_size=1000,
        worker_heartbeat_seconds=60,
        worker_dead_after_seconds=1,
    )
    doomed = asyncio.create_task(Worker(slow, worker_id="doomed").run_one())
    await poll_until(lambda: batches_done(task_id, 2))
    doomed.cancel()  # the process "dies": no more batches, no more heartbeats
    await asyncio.gather(doomed, return_exceptions=True)
    (subtask,) = await subtask_rows(task_id)
    assert subtask["subtask_status"] == 1
    done_before = subtask["progress"]["handled"]
    await db.fetch("UPDATE subtask SET heartbeat_time = now() - interval '1 minute'")
    assert await reap(slow) == 1
    await run_until_idle(slow, "rescuer")
    (subtask,) = await subtask_rows(task_id)
    assert subtask["subtask_status"] == 5 and subtask["attempts"] == 2
    assert subtask["progress"]["handled"] == 100 and done_before >= 20
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert sorted(result["removed_ids"]) == sorted(faces)


async def test_a_failing_subtask_is_recorded_and_the_task_goes_on(client):
    from webapp.tasks import worker as worker_module

    account = await make_account()
    await make_faces(account, 300, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    first = (await subtask_rows(task_id))[0]["subtask_id"]
    first_range = await db.fetchrow("SELECT content FROM subtask WHERE subtask_id = $1", first)
    assert first_range is not None

    def flaky(task_type, content, config):
        work = worker_module.make_work(task_type, content, config)
        original = work.fetch

        async def fetch(conn, subtask, cursor):
            if subtask == json.loads(first_range["content"]):
                raise RuntimeError("disk on fire")
            return await original(conn, subtask, cursor)

        work.fetch = fetch  # type: ignore[method-assign]
        return work

    worker = Worker(settings(), worker_id="flaky", work_factory=flaky)
    while await worker.run_one():
        pass
    done = await task(client, task_id)
    assert done["task_status"] == 5
    errors = (await client.get(f"/4/tasks/{task_id}/errors", headers=ADMIN)).json()["errors"]
    assert len(errors) == 1 and "disk on fire" in errors[0]["detail"]
    assert errors[0]["subtask_id"] == first and errors[0]["error_code"] == 29104
    count = (await client.get(f"/4/tasks/{task_id}/errors/count", headers=ADMIN)).json()
    assert count == {"count": 1}


async def test_a_task_whose_subtasks_all_fail_fails(client):
    account = await make_account()
    await make_faces(account, 10, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )

    worker = Worker(settings(), work_factory=failing("fetch"))
    while await worker.run_one():
        pass
    failed = await task(client, task_id)
    assert failed["task_status"] == 3
    result = await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)
    assert result.json()["error_code"] == 28020


async def test_gc_with_nothing_to_remove_finishes(client):
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 77}}
    )
    await run_until_idle(settings())
    done = await task(client, task_id)
    assert done["task_status"] == 5
    assert (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()[
        "removed_count"
    ] == 0


async def test_a_huge_result_lists_a_bounded_number_of_ids(client, monkeypatch):
    from webapp.tasks import service as service_module
    from webapp.tasks import worker as worker_module

    # The bound, where the result is stored and where its ids are read back.
    monkeypatch.setattr(worker_module, "MAX_RESULT_IDS", 10)
    monkeypatch.setattr(service_module, "MAX_RESULT_IDS", 10)
    account = await make_account()
    await make_faces(account, 30, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    await run_until_idle(settings())
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert result["removed_count"] == 30
    assert len(set(result["removed_ids"])) == 10
    assert result["removed_ids_omitted"] == 20


async def test_result_ids_are_read_from_the_parts_in_order_and_cut_at_the_bound(
    client, monkeypatch
):
    from webapp.tasks import service as service_module
    from webapp.tasks import worker as worker_module

    # The bound, where the result is stored and where its ids are read back.
    monkeypatch.setattr(worker_module, "MAX_RESULT_IDS", 10)
    monkeypatch.setattr(service_module, "MAX_RESULT_IDS", 10)
    account = await make_account()
    faces = await make_faces(account, 30, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    await run_until_idle(settings(gc_batch_size=7))  # parts of 7: the bound cuts the second
    parts = await db.fetch(
        "SELECT p.handled FROM subtask_result_part p JOIN subtask s USING (subtask_id) "
        "WHERE s.task_id = $1 ORDER BY p.subtask_id, p.seq",
        task_id,
    )
    assert [p["handled"] for p in parts] == [7, 7, 7, 7, 2]
    stored = await db.fetchrow("SELECT content FROM task_result WHERE task_id = $1", task_id)
    assert stored is not None and "removed_ids" not in json.loads(stored["content"])
    response = await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)
    assert response.headers["content-type"].startswith("application/json")
    result = response.json()
    # The order they were removed in (descriptor ids follow the faces' insertion here).
    assert result["removed_ids"] == faces[:10]
    assert (result["removed_count"], result["removed_ids_omitted"]) == (30, 20)


async def test_an_expired_result_takes_its_ids_with_it(client):
    from webapp.tasks.service import delete_expired_results

    account = await make_account()
    await make_faces(account, 12, versions=(56,))
    task_id = await create_gc(
        client,
        {"target": "face_descriptors", "filters": {"descriptor_version": 56}},
        result_storage_policy={"ttl": 1},
    )
    await run_until_idle(settings(gc_batch_size=5))
    count_parts = (
        "SELECT count(*) AS n FROM subtask_result_part p JOIN subtask s USING (subtask_id) "
        "WHERE s.task_id = $1"
    )
    assert (await db.fetchrow(count_parts, task_id))["n"] == 3
    await db.fetch("UPDATE task_result SET expire_time = now() - interval '1 second'")
    assert await delete_expired_results() == 1
    assert (await db.fetchrow(count_parts, task_id))["n"] == 0
    response = await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)
    assert response.status_code == 404 and response.json()["error_code"] == 28017


async def test_without_results_no_ids_are_written(client):
    account = await make_account()
    await make_faces(account, 12, versions=(56,))
    task_id = await create_gc(
        client,
        {
            "target": "face_descriptors",
            "filters": {"descriptor_version": 56},
            "store_results": False,
        },
    )
    await run_until_idle(settings(gc_batch_size=5))
    subtasks = await subtask_rows(task_id)
    assert sum(s["progress"]["handled"] for s in subtasks) == 12  # counted without RETURNING
    parts = await db.fetchrow(
        "SELECT count(*) AS n FROM subtask_result_part p JOIN subtask s USING (subtask_id) "
        "WHERE s.task_id = $1",
        task_id,
    )
    assert parts is not None and parts["n"] == 0
