"""Real worker processes: `luna-admin worker` killed with SIGKILL mid-task."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from tests.conftest import ADMIN, TEST_DATABASE_URL
from tests.integration.tasks_helpers import (
    create_gc,
    make_account,
    make_faces,
    poll_until,
    subtask_rows,
    task,
)


def start_worker(name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": TEST_DATABASE_URL,
        "SECRET_KEY": "worker-test",
        "LOG_LEVEL": "warning",
        "GC_BATCH_SIZE": "10",
        "WORKER_HEARTBEAT_SECONDS": "0.2",
        "WORKER_DEAD_AFTER_SECONDS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "worker", "--no-dispatch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_killed_worker_loses_no_work_and_repeats_none(client):
    account = await make_account()
    faces = await make_faces(account, 1200, versions=(56,))
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    doomed = start_worker("doomed")
    try:

        async def some_batches_done() -> bool:
            return sum(s["progress"].get("batches", 0) for s in await subtask_rows(task_id)) >= 3

        await poll_until(some_batches_done)
        doomed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(doomed.wait, 10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    interrupted = [s for s in await subtask_rows(task_id) if s["subtask_status"] == 1]
    assert interrupted, "the killed worker held a subtask"
    rescuer = start_worker("rescuer")
    try:

        async def finished() -> bool:
            return (await task(client, task_id))["task_status"] == 5

        await poll_until(finished, within=60)
    finally:
        rescuer.terminate()
        await asyncio.to_thread(rescuer.wait, 10)
    subtasks = await subtask_rows(task_id)
    assert {s["subtask_status"] for s in subtasks} == {5}
    assert any(s["attempts"] == 2 for s in subtasks)
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    assert len(result["removed_ids"]) == len(set(result["removed_ids"])) == 1200
    assert sorted(result["removed_ids"]) == sorted(faces)
