"""Helpers for the task tests: platform data, running workers, task state."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tests.conftest import ADMIN, test_settings
from webapp import db
from webapp.settings import Settings
from webapp.tasks.worker import Worker, make_work


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"gc_batch_size": 50, "subtask_size": 200, "workers_in_process": 0}
    values.update(overrides)
    return test_settings(**values)


async def make_account() -> uuid.UUID:
    row = await db.fetchrow(
        "INSERT INTO account (login, password_hash, account_type) "
        "VALUES ($1, 'x', 'user') RETURNING account_id",
        f"owner{uuid.uuid4().hex[:8]}@example.com",
    )
    assert row is not None
    return row["account_id"]  # type: ignore[no-any-return]


async def make_faces(
    account_id: uuid.UUID, count: int, versions: tuple[int, ...] = ()
) -> list[str]:
    rows = await db.fetch(
        "INSERT INTO face (account_id) SELECT $1 FROM generate_series(1, $2) RETURNING face_id",
        account_id,
        count,
    )
    face_ids = [row["face_id"] for row in rows]
    for version in versions:
        await db.fetch(
            "INSERT INTO descriptor (face_id, descriptor_version, vector) "
            "SELECT unnest($1::uuid[]), $2, '\\x01'::bytea",
            face_ids,
            version,
        )
    return [str(face_id) for face_id in face_ids]


async def descriptor_faces(version: int) -> set[str]:
    rows = await db.fetch(
        "SELECT face_id::text AS f FROM descriptor WHERE descriptor_version = $1", version
    )
    return {row["f"] for row in rows}


def failing(method: str) -> Callable[[int, dict[str, Any], Settings], Any]:
    """A work factory whose works raise in `method` (fetch, apply...): a broken batch."""

    def factory(task_type: int, content: dict[str, Any], config: Settings) -> Any:
        work = make_work(task_type, content, config)

        async def fail(*args: Any) -> None:
            raise RuntimeError("always")

        setattr(work, method, fail)
        return work

    return factory


async def run_until_idle(settings: Settings, worker_id: str = "test-worker") -> int:
    """Run one worker until no subtask is left; return how many it ran."""
    worker, ran = Worker(settings, worker_id=worker_id), 0
    while await worker.run_one():
        ran += 1
    return ran


async def create_gc(client: Any, content: dict[str, Any], **extra: Any) -> int:
    response = await client.post("/4/tasks/gc", json={"content": content, **extra}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return int(response.json()["task_id"])


async def task(client: Any, task_id: int) -> dict[str, Any]:
    response = await client.get(f"/4/tasks/{task_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def subtask_rows(task_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT subtask_id, subtask_status, attempts, progress FROM subtask WHERE task_id = $1 "
        "ORDER BY subtask_id",
        task_id,
    )
    return [{**dict(row), "progress": json.loads(row["progress"])} for row in rows]


async def poll_until(predicate: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    """Wait for a condition another process or task brings about (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await predicate():
        assert loop.time() < deadline, "the condition did not come about in time"
        await asyncio.sleep(0.01)
