"""Target 11: 1,000 schedules firing in the same minute, fire lateness p99 under 1 s.

A real leader process and a real minute boundary: 1,000 schedules with the
cron "M H * * *" (UTC) of one coming minute, and, as the baseline, 10 more
firing the minute before (the same process, uncrowded). Each schedule fires
once, so the overlap rule (no new task while the previous one is unfinished)
never skips one: every fire records itself and creates a pending task, as the
first fire of any schedule does. The leader process runs no task worker
(`luna-admin serve` with WORKERS_IN_PROCESS=0, pool of DB_POOL_SIZE=10
connections), so nothing but the fires competes for it; the tasks stay
pending and are deleted afterwards.

Lateness of a fire = when it was committed - its fire time. The commit is
seen from outside: the bench polls schedule_fire every 50 ms, and a fire's
commit time is the start of the first poll that saw it (an upper bound, up to
50 ms late). Beside it, `schedule_fire.record_time`, the start of the fire's
transaction (its now()), after the fire waited for a pooled connection: a
lower bound; the first of these shows how long APScheduler took to hand the
due jobs over. Printed: p50, p99 and maximum of the lateness, the first, p50
and p99 transaction start, and the leader process's CPU time for the fires.
BENCH_SCHEDULE_CROWD changes the 1,000, BENCH_SCHEDULE_FIRE_PROCESS=worker
makes the leader a `luna-admin worker --concurrency 0` (a pool of 2).

    python -m bench.schedules_fire         (about two minutes: it waits for the minutes)
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench import schedules_common as common
from bench import util

TARGET_SECONDS = 1.0
CROWD = int(os.environ.get("BENCH_SCHEDULE_CROWD", "1000"))
ALONE = 10
"""The baseline: this many schedules fire the minute before, uncrowded."""
KIND = os.environ.get("BENCH_SCHEDULE_FIRE_PROCESS", "serve")
"""serve (WORKERS_IN_PROCESS=0) or worker (`luna-admin worker --concurrency 0`)."""
LEAD_SECONDS = 20.0
"""The leader must have its jobs before the first minute: start it at least this early."""
POLL_SECONDS = 0.05
FIRE_TIMEOUT = 90.0


@dataclass(frozen=True)
class Fires:
    """One minute's fires of one group of schedules."""

    label: str
    fire_time: datetime
    committed: list[float]
    """Seen by a poll - fire time, seconds, one per schedule."""
    started: list[float]
    """record_time (the fire transaction's start) - fire time."""
    outcomes: dict[str, int]
    cpu_seconds: float
    """CPU time the leader process spent from 1 s before the minute until the last fire was seen."""

    def lines(self) -> list[str]:
        n = len(self.committed)
        return [
            f"{self.label} ({n:,} fires at {self.fire_time:%H:%M} UTC): committed "
            f"p50 {_ms(self.committed, 50)}, p99 {_ms(self.committed, 99)}, "
            f"max {_ms(self.committed, 100)}",
            f"    transaction start: first {1000 * min(self.started):.0f} ms, "
            f"p50 {_ms(self.started, 50)}, p99 {_ms(self.started, 99)}; leader CPU "
            f"{self.cpu_seconds:.2f} s ({1000 * self.cpu_seconds / n:.1f} ms per fire)",
        ]


def percentile(values: list[float], percent: float) -> float:
    """Nearest rank: the smallest value with `percent` % of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def _ms(values: list[float], percent: float) -> str:
    return f"{1000 * percentile(values, percent):.0f} ms"


def main() -> util.Outcome:
    util.heading(f"{CROWD:,} schedules firing in the same minute vs {ALONE} alone")
    alone, crowd = asyncio.run(_main())
    return _report(alone, crowd)


async def _main() -> tuple[Fires, Fires]:
    conn = await common.connect()
    try:
        await common.prepare(conn)
        return await _measure(conn)
    finally:
        await common.cleanup(conn)
        await conn.close()


async def _measure(conn: asyncpg.Connection) -> tuple[Fires, Fires]:
    now = datetime.now(UTC)
    first = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (first - now).total_seconds() < LEAD_SECONDS:
        first += timedelta(minutes=1)
    second = first + timedelta(minutes=1)
    alone_ids = await common.seed_at(conn, ALONE, first)
    crowd_ids = await common.seed_at(conn, CROWD, second)
    # No task worker in the leader's process: nothing but the fires competes for it.
    if KIND == "serve":
        leader = common.spawn("schedules-fire-serve", "serve", WORKERS_IN_PROCESS="0")
    else:
        leader = common.spawn("schedules-fire-worker", "worker", "--concurrency", "0")
    with common.running(leader):
        ready = await common.ready(leader)
        if ready.schedules != ALONE + CROWD:
            raise RuntimeError(f"the leader scheduled {ready.schedules} schedules")
        margin = first.timestamp() - ready.at
        print(
            f"  leader ({KIND}, pid {leader.pid}) ready {margin:.1f} s before {first:%H:%M} UTC",
            flush=True,
        )
        if margin < 1.0:
            raise RuntimeError("the leader was not ready a second before the first minute")
        alone = await _watch(conn, leader, f"{ALONE} schedules alone", first, alone_ids)
        print("\n".join(f"  {line}" for line in alone.lines()), flush=True)
        crowd = await _watch(conn, leader, f"{CROWD:,} schedules", second, crowd_ids)
        print("\n".join(f"  {line}" for line in crowd.lines()), flush=True)
    return alone, crowd


async def _watch(
    conn: asyncpg.Connection, leader: common.Leader, label: str, at: datetime, ids: list[int]
) -> Fires:
    """Poll the minute's fires until every one of `ids` is seen; when each was first seen."""
    await asyncio.sleep(max(0.0, at.timestamp() - 1.0 - time.time()))
    cpu_before = util.cpu_seconds(leader.pid)
    wanted, seen = set(ids), dict[int, float]()
    deadline = at.timestamp() + FIRE_TIMEOUT
    while len(seen) < len(wanted):
        polled = time.time()
        if polled > deadline:
            raise RuntimeError(f"{label}: {len(seen)} of {len(wanted)} fires after the timeout")
        if leader.process.poll() is not None:
            raise RuntimeError(
                f"{label}: the leader exited (status {leader.process.returncode}) "
                f"after {len(seen)} of {len(wanted)} fires:\n{util.tail(leader.log, 1000)}"
            )
        rows = await conn.fetch("SELECT schedule_id FROM schedule_fire WHERE fire_time = $1", at)
        for row in rows:
            seen.setdefault(int(row["schedule_id"]), polled)
        await asyncio.sleep(max(0.0, polled + POLL_SECONDS - time.time()))
    cpu = util.cpu_seconds(leader.pid) - cpu_before
    rows = await conn.fetch(
        "SELECT schedule_id, extract(epoch FROM record_time - fire_time)::float8 AS started, "
        "outcome FROM schedule_fire WHERE fire_time = $1 AND schedule_id = ANY($2::bigint[])",
        at,
        ids,
    )
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
    if set(seen) != wanted or outcomes != {"created": len(ids)}:
        raise RuntimeError(f"{label}: unexpected fires: {outcomes}, {len(seen)} seen")
    return Fires(
        label=label,
        fire_time=at,
        committed=[seen[i] - at.timestamp() for i in ids],
        started=[float(row["started"]) for row in rows],
        outcomes=outcomes,
        cpu_seconds=cpu,
    )


def _report(alone: Fires, crowd: Fires) -> util.Outcome:
    p99 = percentile(crowd.committed, 99)
    base = percentile(alone.committed, 99)
    outcome = util.Outcome(
        name="11 fire lateness",
        figure=f"p99 {1000 * p99:.0f} ms",
        baseline=f"p99 {1000 * base:.0f} ms ({ALONE} alone)",
        ratio=f"{p99 / base:.1f}x",
        target=f"< {TARGET_SECONDS:.0f} s",
        met=p99 < TARGET_SECONDS,
    )
    lines = [
        *alone.lines(),
        *crowd.lines(),
        f"ratio of the p99s: {outcome.ratio}; every fire 'created' its task",
        "committed = the first 50 ms poll that saw it (upper bound); transaction start = "
        "record_time (lower bound)",
        f"load average now: {util.load_average()}",
    ]
    util.print_block(f"11. Fire lateness, {CROWD:,} schedules in one minute", lines, outcome)
    return outcome


if __name__ == "__main__":
    main()
