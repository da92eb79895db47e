"""Target 10: with 10,000 schedules, a leader has every job scheduled within 5 s.

Cold start (10a, 10b): a `luna-admin worker` (default concurrency 1) and a
`luna-admin serve` process, each timed from the moment it is started until its
leader line ("10000 schedules scheduled"): the interpreter's start, the
migration check, the pool, taking the lock, and the first full sync. Takeover
(10c): two `luna-admin worker` processes; once one leads and the other stands
by, the leader gets SIGKILL, and the time runs from the moment the lock is
free (pg_locks, polled every 20 ms) until the standby's leader line: the
standby's retry wait (it tries every 2 s) plus its sync.

Every figure is compared with the same run with 0 schedules (the fixed cost
of starting, or of the retry wait), in the same run, alternately. The 10,000
schedules are daily, each with its own (minute, hour, zone) unless
BENCH_SCHEDULE_TRIGGERS says how many distinct triggers they share: see
schedules_common. Beside each time, the CPU time the process spent on it,
steadier than the time when other work shares the machine.

    python -m bench.schedules_start        (BENCH_SCHEDULE_ROUNDS=1 for a quicker run)
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from bench import schedules_common as common
from bench import util

TARGET_SECONDS = 5.0
ROUNDS = int(os.environ.get("BENCH_SCHEDULE_ROUNDS", "3"))
STANDBY_SECONDS = (2.0, 4.0)
"""How long the standby runs beside the leader before the kill, at random: the
standby tries the lock every 2 s, so this spreads its wait over 0-2 s."""
SIDES = (0, common.SCHEDULES)


@dataclass(frozen=True)
class Start:
    schedules: int
    total: float
    """Process started (or lock free) -> leader line."""
    sync: float
    """The leader's own figure: lock taken -> jobs in place."""
    cpu: float
    """CPU time of the process over `total` (user + system, all threads)."""
    load: str
    kill_to_free: float | None = None
    """Takeover only: SIGKILL -> the lock seen free."""

    @property
    def before(self) -> float:
        """Cold start: process started -> lock taken. Takeover: lock free -> lock taken."""
        return self.total - self.sync

    def line(self) -> str:
        text = (
            f"{self.schedules:>6,} schedules: {self.total:5.2f} s = "
            f"{self.before:4.2f} s until the lock is taken + {self.sync:4.2f} s sync; "
            f"cpu {self.cpu:4.2f} s"
        )
        if self.kill_to_free is not None:
            text += f" (lock free {1000 * self.kill_to_free:.0f} ms after the kill)"
        return f"{text}  (load {self.load})"


Measure = Callable[[int], Awaitable[Start]]


def main() -> list[util.Outcome]:
    util.heading("scheduler leader: start and takeover with 10,000 schedules vs none")
    return asyncio.run(_main())


async def _main() -> list[util.Outcome]:
    conn = await common.connect()
    try:
        await common.prepare(conn)
        outcomes = []
        for name, kind in (("10a start: worker", "worker"), ("10b start: serve", "serve")):

            async def cold(count: int, kind: str = kind) -> Start:
                return await _cold_start(conn, kind, count)

            print(f"  cold start of luna-admin {kind}:", flush=True)
            runs = await _rounds(cold)
            outcomes.append(_report(name, f"10. Leader cold start: luna-admin {kind}", runs))

        async def takeover(count: int) -> Start:
            return await _takeover(conn, count)

        print("  takeover (two luna-admin worker processes, SIGKILL to the leader):", flush=True)
        runs = await _rounds(takeover)
        outcomes.append(_report("10c takeover", "10. Leader takeover after SIGKILL", runs))
        return outcomes
    finally:
        await common.cleanup(conn)
        await conn.close()


async def _rounds(measure: Measure) -> dict[int, list[Start]]:
    """Each side once per round, the order flipped every round."""
    runs: dict[int, list[Start]] = {side: [] for side in SIDES}
    for round_index in range(ROUNDS):
        order = SIDES if round_index % 2 == 0 else tuple(reversed(SIDES))
        for count in order:
            start = await measure(count)
            runs[count].append(start)
            print(f"    round {round_index + 1}: {start.line()}", flush=True)
    return runs


async def _seed(conn: asyncpg.Connection, count: int) -> None:
    await common.drop(conn)
    if count:
        await common.seed_daily(conn, count)


def _check(ready: common.Ready, count: int) -> None:
    if ready.schedules != count:
        raise RuntimeError(f"the leader scheduled {ready.schedules} schedules, not {count}")


async def _cold_start(conn: asyncpg.Connection, kind: str, count: int) -> Start:
    await _seed(conn, count)
    leader = common.spawn(f"schedules-{kind}", kind)
    with common.running(leader):
        ready = await common.ready(leader)
        cpu = util.cpu_seconds(leader.pid)
    _check(ready, count)
    return Start(count, ready.at - leader.spawned, ready.sync_seconds, cpu, util.load_average())


async def _takeover(conn: asyncpg.Connection, count: int) -> Start:
    await _seed(conn, count)
    first = common.spawn("schedules-leader-a", "worker")
    with common.running(first):
        _check(await common.ready(first), count)
        second = common.spawn("schedules-leader-b", "worker")
        with common.running(second):
            await common.started(second)
            await asyncio.sleep(random.uniform(*STANDBY_SECONDS))
            if await common.lock_holder(conn) != first.name:
                raise RuntimeError(f"{first.name} does not hold the leader lock")
            cpu = util.cpu_seconds(second.pid)
            killed = time.time()
            common.kill(first)
            free = await _lock_released(conn, first.name)
            ready = await common.ready(second)
            cpu = util.cpu_seconds(second.pid) - cpu
    _check(ready, count)
    load = util.load_average()
    return Start(count, ready.at - free, ready.sync_seconds, cpu, load, free - killed)


async def _lock_released(conn: asyncpg.Connection, holder: str) -> float:
    """When a poll (every 20 ms) first saw the lock no longer held by `holder`."""
    while True:
        polled = time.time()
        if await common.lock_holder(conn) != holder:
            return polled
        await asyncio.sleep(common.POLL_SECONDS)


def _medians(runs: list[Start]) -> str:
    sync = statistics.median(start.sync for start in runs)
    before = statistics.median(start.before for start in runs)
    cpu = statistics.median(start.cpu for start in runs)
    return f"medians: {before:.2f} s until the lock is taken, sync {sync:.2f} s, cpu {cpu:.2f} s"


def _report(name: str, title: str, runs: dict[int, list[Start]]) -> util.Outcome:
    ours, base = runs[common.SCHEDULES], runs[0]
    median = statistics.median(start.total for start in ours)
    baseline = statistics.median(start.total for start in base)
    worst = max(start.total for start in ours)
    outcome = util.Outcome(
        name=name,
        figure=f"{median:.2f} s (max {worst:.2f})",
        baseline=f"{baseline:.2f} s (0 sched.)",
        ratio=f"{median / baseline:.2f}x",
        target=f"< {TARGET_SECONDS:.0f} s",
        met=worst < TARGET_SECONDS,
    )
    lines = [
        f"{common.SCHEDULES:,} schedules ({common.TRIGGERS:,} distinct triggers): "
        f"median {median:.2f} s, max {worst:.2f} s; {_medians(ours)} ({len(ours)} runs)",
        f"0 schedules: median {baseline:.2f} s (the fixed cost); {_medians(base)}",
        f"ratio: {outcome.ratio}; the schedules add {median - baseline:.2f} s "
        f"= {1e6 * (median - baseline) / common.SCHEDULES:.0f} us per schedule; "
        "the target is for the slowest run",
        f"load average now: {util.load_average()}",
    ]
    util.print_block(title, lines, outcome)
    return outcome


if __name__ == "__main__":
    main()
