"""Bench 15: wake-up latency, from a task's creation to a worker claiming it.

A `luna-admin serve` with WORKERS_IN_PROCESS=0 takes the POSTs; two idle
`luna-admin worker --concurrency 2` processes wait for work. Each round posts
one GC (of a descriptor version nobody has: one subtask, nothing to remove),
waits until it is done and the workers are idle again (a random pause of
50-250 ms, so the POSTs do not fall in step with any poll), and reads the delay
on the server's clock: the first subtask's `start_time` minus the task's
`create_time` (both now() of their transactions; the POST's own commit lies in
between). The client-side time from sending the POST to a poll seeing the task
claimed is printed beside it, an upper bound.

Two designs, same run: the workers as shipped (LISTEN/NOTIFY, fallback poll
5 s), and the old polling design reproduced by WORKER_LISTEN=0 with a 0.2 s
poll (the workers of before this change looked every 0.2 s). Target: median
and p95 under 100 ms for the shipped design.

    python -m bench.wakeup          (BENCH_WAKEUPS=20 for a quick run)
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from typing import Any

import asyncpg
import httpx

from bench import util

ROUNDS = int(os.environ.get("BENCH_WAKEUPS", "100"))
TARGET_MS = 100.0
NOBODY = 999


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(label: str, worker_env: dict[str, str]) -> tuple[list[float], list[float]]:
    port = util.free_port()
    serve_env = {"WORKERS_IN_PROCESS": "0", "SCHEDULER_ENABLED": "0", "LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "webapp.cli", "worker", "--concurrency", "2", "--no-dispatch"]
    env = {"SCHEDULER_ENABLED": "0", "LOG_LEVEL": "warning", **worker_env}
    spawned = [util.spawn(f"wakeup-{label}-worker-{n}", command, env) for n in (1, 2)]
    server_side: list[float] = []
    client_side: list[float] = []
    try:
        name, command_line = f"wakeup-{label}", util.service_command(port)
        with util.serve(name, command_line, port, "/version", serve_env) as svc:
            conn = await asyncpg.connect(util.database_url())
            try:
                await _until_registered(conn, 2)
                async with httpx.AsyncClient(
                    base_url=svc.url(""), headers=util.basic_auth(), timeout=30, trust_env=False
                ) as client:
                    for _ in range(ROUNDS):
                        await asyncio.sleep(random.uniform(0.05, 0.25))
                        server, seen = await _one(client, conn)
                        server_side.append(server)
                        client_side.append(seen)
            finally:
                await conn.close()
    finally:
        for process, _ in spawned:
            util.stop_process(process)
    return server_side, client_side


async def _until_registered(conn: asyncpg.Connection, processes: int) -> None:
    deadline = time.monotonic() + util.START_TIMEOUT
    while time.monotonic() < deadline:
        if await conn.fetchval("SELECT count(*) FROM worker_process") >= processes:
            await asyncio.sleep(0.5)  # let both settle into waiting
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the workers did not register in time")


async def _one(client: httpx.AsyncClient, conn: asyncpg.Connection) -> tuple[float, float]:
    body: dict[str, Any] = {
        "content": {"target": "face_descriptors", "filters": {"descriptor_version": NOBODY}},
        "description": "wake-up bench",
    }
    sent = time.perf_counter()
    response = await client.post("/4/tasks/gc", json=body)
    response.raise_for_status()
    task_id = response.json()["task_id"]
    seen = None
    deadline = sent + 30
    while time.perf_counter() < deadline:
        row = await conn.fetchrow(
            "SELECT t.task_status, extract(epoch FROM min(s.start_time) - t.create_time) AS waited "
            "FROM task t JOIN subtask s USING (task_id) WHERE t.task_id = $1 "
            "GROUP BY t.task_id",
            task_id,
        )
        if row["waited"] is not None and seen is None:
            seen = time.perf_counter() - sent
        if row["task_status"] == 5:
            await conn.execute("DELETE FROM task WHERE task_id = $1", task_id)
            return float(row["waited"]) * 1000, (seen or 0) * 1000
        await asyncio.sleep(0.002)
    raise RuntimeError(f"task {task_id} was not done within 30 s")


def describe(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, "
        f"max {max(values):.1f} ms"
    )


async def run() -> util.Outcome:
    util.ensure_schema()
    shipped = await measure("notify", {"WORKER_IDLE_POLL_SECONDS": "5"})
    old = await measure("poll", {"WORKER_LISTEN": "0", "WORKER_IDLE_POLL_SECONDS": "0.2"})
    median, p95 = statistics.median(shipped[0]), percentile(shipped[0], 0.95)
    old_median = statistics.median(old[0])
    outcome = util.Outcome(
        name="15 wake-up",
        figure=f"{median:.1f} ms median",
        baseline=f"{old_median:.1f} ms polling",
        ratio=f"{old_median / median:.1f}x" if median else "-",
        target=f"p95 < {TARGET_MS:.0f} ms",
        met=p95 < TARGET_MS,
    )
    util.print_block(
        "15. Wake-up latency: task created -> subtask claimed, idle workers",
        [
            f"{ROUNDS} tasks per design, 2 worker processes x 2 workers, one at a time",
            f"LISTEN/NOTIFY (shipped), server clock: {describe(shipped[0])}",
            f"  client: POST sent -> claim seen:     {describe(shipped[1])}",
            f"polling every 0.2 s (old), server clock: {describe(old[0])}",
            f"  client: POST sent -> claim seen:       {describe(old[1])}",
            f"load average now: {util.load_average()}",
        ],
        outcome,
    )
    return outcome


def main() -> util.Outcome:
    util.heading("wake-up latency of idle workers")
    return asyncio.run(run())


if __name__ == "__main__":
    main()
