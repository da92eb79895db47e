"""The workers and the queue (issue 10, item 7): GET /4/workers and /workers, why a
pending task waits, and idle workers woken by LISTEN/NOTIFY rather than a poll."""

from __future__ import annotations

import asyncio
import os
import re

from tests.conftest import ADMIN, HTML
from tests.integration.tasks_helpers import (
    create_gc,
    make_account,
    make_faces,
    poll_until,
    settings,
    subtask_rows,
    task,
)
from tests.integration.test_pages import page_sign_in
from webapp import db
from webapp.tasks.background import BackgroundWork

GC = {"target": "face_descriptors", "filters": {"descriptor_version": 56}}


async def workers(client) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get("/4/workers", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def fake_process(process_id: str, workers_count: int = 1, age: float = 0) -> None:
    await db.fetch(
        "INSERT INTO worker_process (process_id, host, pid, workers, heartbeat_time) "
        "VALUES ($1, 'elsewhere', 4242, $2, now() - make_interval(secs => $3))",
        process_id,
        workers_count,
        age,
    )


async def test_with_no_worker_a_pending_task_says_so(client):
    await page_sign_in(client)
    task_id = await create_gc(client, GC)
    overview = await workers(client)
    assert overview["processes"] == [] and overview["live_workers"] == 0
    assert [q["task_id"] for q in overview["queue"]] == [task_id]
    assert overview["queue"][0]["wait_reason"] == "no worker is running"
    page = re.sub(r"\s+", " ", (await client.get(f"/tasks/{task_id}", headers=HTML)).text)
    assert "Waiting: no worker is running." in page
    listed = (await client.get("/tasks", headers=HTML)).text
    assert 'data-testid="task-row-wait">no worker is running<' in listed
    shown = (await client.get("/workers", headers=HTML)).text
    assert 'data-testid="no-workers"' in shown and f'data-task-id="{task_id}"' in shown


async def test_a_task_waits_behind_the_one_the_workers_hold_and_the_queue_ahead(client):
    account = await make_account()
    await make_faces(account, 10, versions=(56, 57))
    first = await create_gc(client, GC)
    await fake_process("elsewhere:4242:abcdef")
    (held,) = await subtask_rows(first)
    await db.fetch(
        "UPDATE subtask SET subtask_status = 1, worker_id = 'elsewhere:4242:abcdef/0', "
        "start_time = now() WHERE subtask_id = $1",
        held["subtask_id"],
    )
    await db.fetch("UPDATE task SET task_status = 1 WHERE task_id = $1", first)
    second = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 57}}
    )
    third = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 58}}
    )
    overview = await workers(client)
    (process,) = overview["processes"]
    assert process["host"] == "elsewhere" and process["pid"] == 4242 and process["alive"]
    assert process["holds"] == [
        {
            "worker_id": "elsewhere:4242:abcdef/0",
            "subtask_id": held["subtask_id"],
            "task_id": first,
            "since": process["holds"][0]["since"],
        }
    ]
    reasons = {q["task_id"]: q["wait_reason"] for q in overview["queue"]}
    assert list(reasons) == [second, third]  # oldest first
    assert reasons[second] == f"behind task {first} (every worker is busy)"
    assert reasons[third] == f"behind task {second}"


async def test_a_silent_process_counts_as_no_worker_and_is_forgotten(client):
    from webapp.tasks import processes

    await fake_process("gone:1:aaaaaa", age=120)
    task_id = await create_gc(client, GC)
    overview = await workers(client)
    assert overview["processes"][0]["alive"] is False
    assert overview["queue"][0]["task_id"] == task_id
    assert overview["queue"][0]["wait_reason"] == "no worker is running"
    assert await processes.forget_silent(15) == 1
    assert (await workers(client))["processes"] == []


async def test_an_idle_worker_wakes_on_notify_not_on_its_poll(client):
    account = await make_account()
    await make_faces(account, 20, versions=(56,))
    # A fallback poll of a minute: only the notification can wake it in time.
    background = BackgroundWork(
        settings(worker_idle_poll_seconds=60, scheduler_enabled=False, gc_batch_size=5)
    )
    background.start(workers=2, dispatch=False)
    try:

        async def registered() -> bool:
            return bool((await workers(client))["processes"])

        await poll_until(registered, within=10)
        (process,) = (await workers(client))["processes"]
        assert process["pid"] == os.getpid() and process["workers"] == 2
        await asyncio.sleep(0.3)  # both workers are idle, waiting
        loop = asyncio.get_running_loop()
        for _ in range(3):
            started = loop.time()
            task_id = await create_gc(client, GC)

            async def done(task_id: int = task_id) -> bool:
                return bool((await task(client, task_id))["task_status"] == 5)

            await poll_until(done, within=5)
            assert loop.time() - started < 5
            row = await db.fetchrow(
                "SELECT extract(epoch FROM min(s.start_time) - t.create_time) AS waited "
                "FROM subtask s JOIN task t USING (task_id) WHERE t.task_id = $1 "
                "GROUP BY t.create_time",
                task_id,
            )
            assert row is not None and float(row["waited"]) < 1.0
            await make_faces(account, 20, versions=(56,))
    finally:
        await background.stop()
    assert (await workers(client))["processes"] == []  # a clean stop removes its row
