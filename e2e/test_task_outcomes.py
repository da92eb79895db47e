"""Outcomes, progress, workers and the dangerous GC in a real browser (issue 10,
items 4-8): the list's badges and counts, the task page's live start, duration,
rate and ETA, the workers page, the confirmation of a GC across every account."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import APIRequestContext, Page, expect

from e2e.conftest import Database
from e2e.pages import TaskPage, TasksPage, WorkersPage, shot, unique_login
from e2e.test_tasks import ENDS_WITHIN_MS, create_gc, descriptor_count, seed_descriptors, wait_until
from webapp.extraction.samples import face_photos
from webapp.platform.seed import tiny_png


def account_with_samples(
    api: APIRequestContext, database: Database, photos: int, grey: int, bare: int
) -> str:
    """An account whose faces have a real photo, a faceless image, or no sample."""
    answer = api.post(
        "accounts",
        data={"login": unique_login("ex"), "password": "secret-e2e", "account_type": "user"},
    )
    assert answer.status == 201, answer.text()
    account_id = str(answer.json()["account_id"])
    pictures = [p for person in face_photos().values() for p in person]
    images = [pictures[i % len(pictures)] for i in range(photos)] + [tiny_png(1, size=64)] * grey
    database.execute(
        "WITH f AS (INSERT INTO face (account_id) SELECT $1::uuid FROM generate_series(1, $2) "
        "RETURNING face_id), n AS (SELECT face_id, row_number() OVER () AS i FROM f) "
        "INSERT INTO sample (account_id, face_id, image) "
        "SELECT $1::uuid, face_id, ($3::bytea[])[i] FROM n WHERE i <= cardinality($3::bytea[])",
        account_id,
        len(images) + bare,
        images,
    )
    return account_id


def extract(api: APIRequestContext, account_id: str, **options: Any) -> int:
    answer = api.post(
        "tasks/additional_extract",
        data={
            "content": {
                "filters": {"objects_type": "faces", "account_id": account_id},
                "extraction_target": "face_descriptor",
                "options": {"missing": False, **options},
            }
        },
    )
    assert answer.status == 201, answer.text()
    return int(answer.json()["task_id"])


def ended(api: APIRequestContext, task_id: int) -> bool:
    return int(api.get(f"tasks/{task_id}").json()["task_status"]) in (2, 3, 5)


def handled(api: APIRequestContext, task_id: int) -> int:
    subtasks = api.get(f"tasks/{task_id}/subtasks").json()["subtasks"]
    return sum(int(s["content"]["progress"].get("handled", 0)) for s in subtasks)


def test_the_list_tells_done_done_with_failures_and_failed_apart(
    signed_in: Page, api: APIRequestContext, database: Database
) -> None:
    page = signed_in
    clean = extract(api, account_with_samples(api, database, photos=1, grey=0, bare=3))
    mixed = extract(api, account_with_samples(api, database, photos=1, grey=2, bare=0))
    broken = extract(api, account_with_samples(api, database, photos=0, grey=2, bare=0))
    for task_id in (clean, mixed, broken):
        assert wait_until(lambda task_id=task_id: ended(api, task_id))

    tasks = TasksPage(page).open()
    badge = {t: tasks.row(t).get_by_test_id("task-row-status") for t in (clean, mixed, broken)}
    expect(badge[clean]).to_have_text("done")
    expect(badge[mixed]).to_have_text("done with failures")
    expect(badge[broken]).to_have_text("failed")
    # Three looks, not three words: the colours differ.
    colours = {t: b.evaluate("e => getComputedStyle(e).borderTopColor") for t, b in badge.items()}
    assert len(set(colours.values())) == 3, colours

    expect(tasks.row(clean).get_by_test_id("task-row-handled")).to_have_text("1 extracted")
    expect(tasks.row(clean).get_by_test_id("task-row-skipped")).to_have_text("3")
    expect(tasks.row(clean).get_by_test_id("task-row-failed")).to_have_text("0")
    expect(tasks.row(mixed).get_by_test_id("task-row-failed")).to_have_text("2")
    expect(tasks.row(broken).get_by_test_id("task-row-handled")).to_have_text("0 extracted")
    shot(page, "tasks-outcomes")

    # The task page and its subtasks say the same.
    task = TaskPage(page).open(mixed)
    expect(task.status).to_have_text("done with failures")
    expect(task.counts).to_contain_text("1 extracted · 0 skipped · 2 failed")
    expect(task.subtasks.first.get_by_test_id("subtask-status")).to_have_text("done with failures")
    # Two failures of one kind in one subtask: one error row that counts them.
    expect(page.get_by_test_id("task-error-count")).to_have_text("1")
    expect(task.errors).to_contain_text("and 1 more")


def test_the_task_page_shows_start_duration_rate_and_eta_while_it_runs(
    signed_in: Page, api: APIRequestContext, database: Database
) -> None:
    page = signed_in
    account_id = account_with_samples(api, database, photos=400, grey=0, bare=0)
    task_id = extract(api, account_id)
    task = TaskPage(page).open(task_id)
    assert wait_until(lambda: handled(api, task_id) >= 32), "no batch was done"
    # Writes of descriptors wait while the table is locked: the task stays running,
    # part done, as long as the test looks at it.
    with database.locked("descriptor"):
        expect(task.status).to_have_text("in_progress")
        expect(task.started).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
        expect(task.duration).to_have_text(re.compile(r"^\d+ (s|min \d+ s) so far$"))
        expect(task.rate).to_have_text(re.compile(r"^[\d,.]+ objects/s$"))
        expect(task.eta).to_have_text(re.compile(r"^about \d+"))
        expect(task.objects).to_contain_text(re.compile(r"^[\d,]+ of 400 objects · \d+%$"))
        before = task.duration.inner_text()
        expect(task.duration).not_to_have_text(before, timeout=3000)  # it ticks, live
        shot(page, "task-live-progress")
    expect(task.status).to_have_text("done", timeout=60_000)
    expect(task.objects).to_have_text("400 of 400 objects · 100%")
    expect(task.eta).to_have_count(0)
    expect(task.duration).to_have_text(re.compile(r"^\d+ (s|min \d+ s)$"))
    expect(task.subtasks.filter(has_text="in_progress")).to_have_count(0)


def test_the_workers_page_shows_the_process_and_the_queue(
    signed_in: Page, api: APIRequestContext, database: Database
) -> None:
    page = signed_in
    seed_descriptors(api, database, 3000, version=61)
    workers = WorkersPage(page).open()
    expect(workers.processes).to_have_count(1)
    expect(workers.processes.first).to_contain_text("idle")
    expect(workers.live).to_have_text("1 worker running")

    with database.locked("descriptor"):
        task_id = create_gc(
            api, content={"target": "face_descriptors", "filters": {"descriptor_version": 61}}
        )
        # The page refreshes itself: the worker holds a part, two wait behind it.
        expect(workers.processes.first).to_contain_text(f"task {task_id}", timeout=5000)
        row = workers.queued(task_id)
        expect(row).to_contain_text("2")
        expect(row.get_by_test_id("queue-wait")).to_have_text(
            "every worker is busy with this task's other parts"
        )
        behind = create_gc(api)
        expect(workers.queued(behind).get_by_test_id("queue-wait")).to_have_text(
            f"behind task {task_id}", timeout=5000
        )
        task = TaskPage(page).open(behind)
        expect(task.wait_reason).to_contain_text(f"Waiting: behind task {task_id}")
        shot(page, "task-waiting")
        workers.open()
        shot(page, "workers-page")
    assert wait_until(lambda: ended(api, behind))
    workers.open()
    expect(workers.queue_empty).to_be_visible()


def test_a_gc_across_every_account_is_stated_then_confirmed_and_a_preview_runs_this(
    signed_in: Page, api: APIRequestContext, database: Database
) -> None:
    page = signed_in
    seed_descriptors(api, database, 25, version=62)
    tasks = TasksPage(page).open()
    tasks.run_gc(descriptor_version="62")
    expect(tasks.gc_confirm_statement).to_contain_text(
        "would remove 25 descriptors of version 62, in every account"
    )
    expect(tasks.gc_confirm_run).to_have_text("Remove 25 descriptors of version 62")
    shot(page, "gc-confirm")
    assert descriptor_count(database, 62) == 25

    tasks.gc_confirm_back.click()
    expect(tasks.gc_descriptor_version).to_have_value("62")
    tasks.preview_gc(descriptor_version="62")
    task = TaskPage(page)
    expect(page).to_have_url(re.compile(r"/tasks/[0-9]+$"))
    expect(task.status).to_have_text("done", timeout=ENDS_WITHIN_MS)
    expect(task.counts).to_contain_text("would remove 25")
    expect(task.counts).not_to_contain_text("handled")
    expect(task.run_this).to_contain_text(
        "would remove 25 descriptors of version 62, in every account"
    )
    preview_id = task.task_id
    task.run_this_button.click()
    expect(page).to_have_url(re.compile(r"/tasks/[0-9]+$"))
    assert task.task_id != preview_id
    expect(task.status).to_have_text("done", timeout=ENDS_WITHIN_MS)
    expect(task.counts).to_contain_text("25 removed")
    assert descriptor_count(database, 62) == 0
