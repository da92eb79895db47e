"""Target 12: resident memory of the leader process with 10,000 schedules under 250 MB.

VmRSS of a `luna-admin worker` (12a) and of a `luna-admin serve` (12b), both
with their default settings (one task worker each), leading with 10,000
schedules (daily, each with its own trigger: see schedules_common), read 2 s
after the leader line and again after the leader's first full resync (30 s
after the first sync: it reads all the schedules again), with VmHWM, the
peak. The figure is the larger of the two readings. The baseline is the same
process leading with 0 schedules, measured the same way in the same run.

    python -m bench.schedules_memory       (about two and a half minutes)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from bench import schedules_common as common
from bench import util

TARGET_MB = 250.0
SETTLE_SECONDS = 2.0
AFTER_RESYNC_SECONDS = 33.0
"""From the leader line: the first full resync runs 30 s after the first sync."""


@dataclass(frozen=True)
class Memory:
    schedules: int
    settled_mb: float
    resynced_mb: float
    peak_mb: float

    @property
    def figure(self) -> float:
        return max(self.settled_mb, self.resynced_mb)

    def line(self) -> str:
        return (
            f"{self.schedules:>6,} schedules: VmRSS {self.settled_mb:6.1f} MB after "
            f"{SETTLE_SECONDS:.0f} s, {self.resynced_mb:6.1f} MB after the first resync; "
            f"peak (VmHWM) {self.peak_mb:6.1f} MB"
        )


def main() -> list[util.Outcome]:
    util.heading("resident memory of the scheduler leader, 10,000 schedules vs none")
    return asyncio.run(_main())


async def _main() -> list[util.Outcome]:
    conn = await common.connect()
    try:
        await common.prepare(conn)
        outcomes = []
        for name, kind in (("12a memory: worker", "worker"), ("12b memory: serve", "serve")):
            measured = {}
            for count in (0, common.SCHEDULES):
                measured[count] = await _measure(conn, kind, count)
                print(f"  luna-admin {kind}, {measured[count].line()}", flush=True)
            outcomes.append(_report(name, kind, measured[common.SCHEDULES], measured[0]))
        return outcomes
    finally:
        await common.cleanup(conn)
        await conn.close()


async def _measure(conn: asyncpg.Connection, kind: str, count: int) -> Memory:
    await common.drop(conn)
    if count:
        await common.seed_daily(conn, count)
    leader = common.spawn(f"schedules-memory-{kind}", kind)
    with common.running(leader):
        ready = await common.ready(leader)
        if ready.schedules != count:
            raise RuntimeError(f"the leader scheduled {ready.schedules} schedules, not {count}")
        loop = asyncio.get_running_loop()
        since = loop.time()
        await asyncio.sleep(SETTLE_SECONDS)
        settled = common.state(leader.pid)["VmRSS"]
        await asyncio.sleep(max(0.0, since + AFTER_RESYNC_SECONDS - loop.time()))
        final = common.state(leader.pid)
    return Memory(count, settled / 1024, final["VmRSS"] / 1024, final["VmHWM"] / 1024)


def _report(name: str, kind: str, ours: Memory, base: Memory) -> util.Outcome:
    outcome = util.Outcome(
        name=name,
        figure=f"{ours.figure:.1f} MB RSS",
        baseline=f"{base.figure:.1f} MB (0 sched.)",
        ratio=f"{ours.figure / base.figure:.2f}x",
        target=f"< {TARGET_MB:.0f} MB",
        met=ours.figure < TARGET_MB,
    )
    added = ours.figure - base.figure
    lines = [
        ours.line(),
        base.line(),
        f"ratio: {outcome.ratio}; the schedules add {added:.1f} MB "
        f"= {1024 * added / common.SCHEDULES:.1f} kB per schedule",
    ]
    util.print_block(f"12. Resident memory of the leader: luna-admin {kind}", lines, outcome)
    return outcome


if __name__ == "__main__":
    main()
