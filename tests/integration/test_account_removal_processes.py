"""An account's removal survives SIGKILL of the process that runs it: a real
`luna-admin serve` (with its in-process worker) or `luna-admin worker` is killed
mid-removal, another process finishes it, and not a row is left."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN, TEST_DATABASE_URL
from tests.integration.helpers import add_platform_data, create_account
from tests.integration.tasks_helpers import poll_until, subtask_rows
from tests.integration.test_account_removal import add_events_and_samples, owned_rows
from tests.support.processes import Processes
from webapp import db

FAST_REAPING = {
    "GC_BATCH_SIZE": "10",
    "SUBTASK_SIZE": "200",
    "WORKER_HEARTBEAT_SECONDS": "0.2",
    "WORKER_DEAD_AFTER_SECONDS": "1",
    "SCHEDULER_ENABLED": "0",
}


async def removal_task_id(account_id: str) -> int:
    row = await db.fetchrow(
        "SELECT task_id FROM task WHERE account_id = $1 AND content->>'target' = 'account'",
        uuid.UUID(account_id),
    )
    assert row is not None
    return int(row["task_id"])


@pytest.mark.parametrize("victim", ["worker", "serve"])
async def test_a_removal_killed_midway_is_finished_by_another_process(
    client, tmp_path: Path, victim: str
):
    assert TEST_DATABASE_URL
    doomed = await create_account(client, "killed@example.com")
    await add_platform_data(doomed, lists=2, faces=600, attributes=300, linked=100)
    await add_events_and_samples(doomed, events=100)
    rows_before = await owned_rows(doomed)
    async with Processes(tmp_path) as processes:
        if victim == "serve":
            first = processes.serve(
                "doomed-server", TEST_DATABASE_URL, WORKERS_IN_PROCESS="1", **FAST_REAPING
            )
            await first.wait_until_up()
            async with httpx.AsyncClient(base_url=first.url, trust_env=False) as http:
                response = await http.delete(f"/4/accounts/{doomed}", headers=ADMIN)
            assert response.status_code == 204, response.text
        else:
            assert (await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)).status_code == 204
            first = processes.worker("doomed-worker", TEST_DATABASE_URL, **FAST_REAPING)
        task_id = await removal_task_id(doomed)

        async def faces_being_removed() -> bool:
            rows = await db.fetch(
                "SELECT 1 FROM subtask WHERE task_id = $1 AND content->>'table' = 'face' "
                "AND (progress->>'batches')::int >= 3",
                task_id,
            )
            return bool(rows)

        await poll_until(faces_being_removed, within=60)
        await asyncio.to_thread(first.kill)  # SIGKILL, mid-batch or between two
        held = [s for s in await subtask_rows(task_id) if s["subtask_status"] == 1]
        assert held, "the killed process held a subtask"
        assert 0 < (await owned_rows(doomed))["face"] < rows_before["face"]

        processes.worker("rescuer", TEST_DATABASE_URL, **FAST_REAPING)

        async def account_row_gone() -> bool:
            row = await db.fetchrow(
                "SELECT 1 FROM account WHERE account_id = $1", uuid.UUID(doomed)
            )
            return row is None

        await poll_until(account_row_gone, within=90)

    assert await owned_rows(doomed) == dict.fromkeys(rows_before, 0)
    subtasks = await subtask_rows(task_id)
    assert {s["subtask_status"] for s in subtasks} == {5}
    assert any(s["attempts"] == 2 for s in subtasks)  # the held one, taken over
    result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
    # Every row counted once: nothing lost at the kill, nothing done twice.
    assert result["removed_faces"] == rows_before["face"]
    assert result["removed_face_attributes"] == rows_before["face_attribute"]
    assert result["removed_events"] == rows_before["event"]
    finished = await db.fetch(
        "SELECT 1 FROM audit_event WHERE action = 'account.delete_finished' AND target_id = $1",
        doomed,
    )
    assert len(finished) == 1
    total = await db.fetchrow(
        "SELECT (SELECT account_count FROM account_total) AS counted, "
        "(SELECT count(*) FROM account) AS rows"
    )
    assert total is not None and total["counted"] == total["rows"] == 1
