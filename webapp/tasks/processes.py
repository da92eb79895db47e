"""The processes that run task workers: each registers itself in
`worker_process`, heartbeats while it runs and removes its row when it stops.
The reaper removes the rows of processes that stopped heartbeating (a crash).

A process's id is `host:pid:random`; each of its workers is `<process id>/<n>`,
the `worker_id` a subtask carries while a worker holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from webapp import db

log = logging.getLogger(__name__)


def new_process_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def worker_id(process_id: str, n: int) -> str:
    return f"{process_id}/{n}"


class ProcessRecord:
    """This process's row, kept fresh every `every` seconds."""

    def __init__(self, workers: int, every: float) -> None:
        self.process_id = new_process_id()
        self.workers = workers
        self.every = every

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await db.fetch(
                    "INSERT INTO worker_process (process_id, host, pid, workers) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (process_id) DO UPDATE "
                    "SET heartbeat_time = now(), workers = EXCLUDED.workers",
                    self.process_id,
                    socket.gethostname(),
                    os.getpid(),
                    self.workers,
                )
            except Exception:
                log.exception("worker process %s: heartbeat failed", self.process_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
        with contextlib.suppress(Exception):
            await db.fetch("DELETE FROM worker_process WHERE process_id = $1", self.process_id)


async def forget_silent(dead_after: float) -> int:
    """Remove the rows of processes that stopped heartbeating (killed, crashed)."""
    rows = await db.fetch(
        "DELETE FROM worker_process "
        "WHERE heartbeat_time < now() - make_interval(secs => $1) RETURNING process_id",
        dead_after,
    )
    for row in rows:
        log.warning("worker process %s stopped heartbeating; forgotten", row["process_id"])
    return len(rows)
