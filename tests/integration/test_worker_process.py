"""Real worker processes: `luna-admin worker` killed with SIGKILL mid-task."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import ADMIN, TEST_DATABASE_URL
from tests.integration.tasks_helpers import (
    create_gc,
    make_account,
    make_faces,
    poll_until,
    subtask_rows,
    task,
)
from tests.support.processes import LunaProcess, start_worker

WORKER_ENV = {
    "GC_BATCH_SIZE": "10",
    "WORKER_HEARTBEAT_SECONDS": "0.2",
    "WORKER_DEAD_AFTER_SECONDS": "1",
}


def worker(name: str, log_dir: Path) -> LunaProcess:
    assert TEST_DATABASE_URL
    return start_worker(name, TEST_DATABASE_URL, log_dir, **WORKER_ENV)


async def test_killed_worker_loses_no_work_and_repeats_none(client, tmp_path):
    account = await make_account()
    faces = await make_faces(account, 1200, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    doomed = worker("doomed", tmp_path)
    try:

        async def some_batches_done() -> bool:
            return sum(s["progress"].get("batches", 0) for s in await subtask_rows(task_id)) >= 3

        await poll_until(some_batches_done)
    finally:
        await asyncio.to_thread(doomed.kill)  # SIGKILL
    interrupted = [s for s in await subtask_rows(task_id) if s["subtask_status"] == 1]
    assert interrupted, "the killed worker held a subtask"
    rescuer = worker("rescuer", tmp_path)
    try:

        async def finished() -> bool:
            return (await task(client, task_id))["task_status"] == 5

        await poll_until(finished, within=60)
    finally:
        await asyncio.to_thread(rescuer.stop)
    subtasks = await subtask_rows(task_id)
    assert {s["subtask_status"] for s in subtasks} == {5}
    assert any(s["attempts"] == 2 for s in subtasks)
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert len(result["removed_ids"]) == len(set(result["removed_ids"])) == 1200
    assert sorted(result["removed_ids"]) == sorted(faces)
