"""Target 7: a cancelled GC stops deleting within a second.

A GC of the million v56 descriptors runs on one `luna-admin worker
--concurrency 1`; once CANCEL_AFTER_PARTS parts are done the bench sends
PATCH /4/tasks/{id} and measures, from the moment it sent it:

- until no more descriptors are deleted: `count(*)` of v56 is polled every
  50 ms (or back to back when a count takes longer: here one takes ~0.2 s)
  until it has not changed for STABLE_SECONDS and the worker has let go of
  its subtask. The stop time is the start of the first count that already saw
  the final figure (a count sees what was committed when it started), so it
  is an upper bound, within one count's duration of the truth. Beside it, the
  same from the subtasks' progress (`handled`, committed in the transaction
  of each batch's deletes: the same moment, at 50 ms resolution);
- until GET /4/tasks/{id} shows task_status 2;
- until no subtask is in progress any more (the worker noticed).

Target: the deletes stop and the status shows 2 within 1 s. The reference is
the time of one batch in the same run (the engine checks for a cancel before
each batch, so a batch already running still commits).

    python -m bench.gc_cancel
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench import gc_common, util

CANCEL_AFTER_PARTS = 2
COUNT_EVERY = 0.05
STABLE_SECONDS = 3.0
CANCEL_TIMEOUT = 30.0
TARGET_SECONDS = 1.0


@dataclass(frozen=True)
class Sample:
    start: float
    """perf_counter() when the query was sent: it sees what was committed by then."""
    seconds: float
    value: int


@dataclass
class Cancelled:
    rows_total: int
    parts_done: int
    parts_all: int
    patch_seconds: float
    status_seconds: float
    counts: list[Sample]
    """count(*) of v56 descriptors."""
    handled: list[Sample]
    """Rows the task's subtasks recorded as handled (committed with each batch's deletes)."""
    released_seconds: float | None
    """Until no subtask of the task was in progress (the worker let go)."""
    sent: float
    batch_seconds: float
    load: str

    def stop(self, samples: list[Sample]) -> tuple[float, float] | None:
        """(upper, lower) bounds of the time from the PATCH to the last change; None: no end."""
        final = samples[-1].value
        first_final = len(samples) - 1
        while first_final > 0 and samples[first_final - 1].value == final:
            first_final -= 1
        if samples[-1].start - samples[first_final].start < STABLE_SECONDS:
            return None
        after = next(i for i, sample in enumerate(samples) if sample.start >= self.sent)
        upper = samples[max(first_final, after)].start - self.sent
        lower = samples[first_final - 1].start - self.sent if first_final > 0 else 0.0
        return max(0.0, upper), max(0.0, lower)

    def after_patch(self, samples: list[Sample]) -> int:
        """How much the figure moved after the PATCH (from the last sample before it)."""
        before = [sample for sample in samples if sample.start < self.sent][-1]
        return abs(samples[-1].value - before.value)


def main() -> util.Outcome:
    util.heading("cancelling a GC of 1M descriptors: time until the deletes stop")
    gc_common.prepare_data()
    with gc_common.service() as svc:
        result = asyncio.run(_measure(svc))
    return _report(result)


async def _measure(svc: util.Server) -> Cancelled:
    conn = await gc_common.connect()
    api = gc_common.Api(svc)
    try:
        restored = await gc_common.restore(conn)
        print(f"  (v56 rows restored, vacuumed, checkpointed: {restored:.0f} s)", flush=True)
        async with gc_common.workers(1):
            return await _cancel_one(api, conn)
    finally:
        await gc_common.close(api, conn)


HANDLED_SQL = """
SELECT coalesce(sum((progress->>'handled')::bigint), 0) AS handled,
       count(*) FILTER (WHERE subtask_status = 1) AS running
FROM subtask WHERE task_id = $1
"""


class Poller:
    """Two loops, each on its own connection, every COUNT_EVERY (or back to back
    when a query takes longer): count(*) of v56, and the subtasks' progress."""

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        self.counts: list[Sample] = []
        self.handled: list[Sample] = []
        self.running: list[tuple[float, int]] = []
        self.stopping = asyncio.Event()

    async def __aenter__(self) -> Poller:
        self.count_conn = await gc_common.connect("bench-poll-count")
        self.progress_conn = await gc_common.connect("bench-poll-progress")
        self.loops = [
            asyncio.create_task(self._loop(self._count)),
            asyncio.create_task(self._loop(self._progress)),
        ]
        for _ in range(int(gc_common.TASK_TIMEOUT / 0.01)):  # bounded: first samples
            if self.counts and self.handled:
                break
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stopping.set()
        await asyncio.gather(*self.loops, return_exceptions=True)
        await self.count_conn.close()
        await self.progress_conn.close()

    async def _loop(self, probe: Any) -> None:
        while not self.stopping.is_set():
            seconds = await probe()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), max(0.0, COUNT_EVERY - seconds))

    async def _count(self) -> float:
        started = time.perf_counter()
        rows = await gc_common.count_version(self.count_conn)
        seconds = time.perf_counter() - started
        self.counts.append(Sample(started, seconds, rows))
        return seconds

    async def _progress(self) -> float:
        started = time.perf_counter()
        row = await self.progress_conn.fetchrow(HANDLED_SQL, self.task_id)
        seconds = time.perf_counter() - started
        self.handled.append(Sample(started, seconds, int(row["handled"])))
        self.running.append((started, int(row["running"])))
        return seconds

    def steady(self) -> bool:
        """Both figures unchanged for STABLE_SECONDS and no subtask running any more."""
        if not self.running or self.running[-1][1] != 0:
            return False
        return all(
            samples[-1].start - _first_of_last_value(samples) >= STABLE_SECONDS
            for samples in (self.counts, self.handled)
        )


def _first_of_last_value(samples: list[Sample]) -> float:
    index = len(samples) - 1
    while index > 0 and samples[index - 1].value == samples[-1].value:
        index -= 1
    return samples[index].start


async def _cancel_one(api: gc_common.Api, conn: asyncpg.Connection) -> Cancelled:
    total = await gc_common.count_version(conn)
    started = time.perf_counter()
    task_id = await api.create_gc(store_results=False)
    while True:
        task = await api.task(task_id)
        if task["task_status"] in gc_common.TERMINAL:
            raise RuntimeError(f"task {task_id} ended before it could be cancelled: {task}")
        if task["count_task_parts_done"] >= CANCEL_AFTER_PARTS:
            break
        if time.perf_counter() - started > gc_common.TASK_TIMEOUT:
            raise RuntimeError(f"task {task_id}: {CANCEL_AFTER_PARTS} parts not done in time")
        await asyncio.sleep(COUNT_EVERY)
    async with Poller(task_id) as poller:
        # Let both loops take a sample or two of the running GC first.
        await asyncio.sleep(2 * COUNT_EVERY)
        sent = time.perf_counter()
        await api.cancel(task_id)
        patch_seconds = time.perf_counter() - sent
        task = await api.task(task_id)
        status_seconds = time.perf_counter() - sent
        if task["task_status"] != gc_common.CANCELLED:
            raise RuntimeError(f"task {task_id} after PATCH: {task}")
        for _ in range(int(CANCEL_TIMEOUT / COUNT_EVERY)):
            if poller.steady():
                break
            await asyncio.sleep(COUNT_EVERY)
    released = next(
        (at - sent for at, running in poller.running if at > sent and not running), None
    )
    batch = await conn.fetchval(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
        "end_time - start_time) / nullif((progress->>'batches')::int, 0)) "
        "FROM subtask WHERE task_id = $1 AND subtask_status = 5",
        task_id,
    )
    return Cancelled(
        rows_total=total,
        parts_done=task["count_task_parts_done"],
        parts_all=task["count_task_parts_all"],
        patch_seconds=patch_seconds,
        status_seconds=status_seconds,
        counts=poller.counts,
        handled=poller.handled,
        released_seconds=released,
        sent=sent,
        batch_seconds=float(batch or 0.0),
        load=util.load_average(),
    )


def _report(result: Cancelled) -> util.Outcome:
    by_count = result.stop(result.counts)
    by_progress = result.stop(result.handled)
    count_ms = 1000 * gc_common.median([sample.seconds for sample in result.counts])
    batch = result.batch_seconds
    stop = by_count[0] if by_count else None
    met = stop is not None and stop <= TARGET_SECONDS and result.status_seconds <= TARGET_SECONDS
    outcome = util.Outcome(
        name="7 GC cancel",
        figure=f"{stop:.2f} s to stop" if stop is not None else "never stopped",
        baseline=f"batch {1000 * batch:.0f} ms",
        ratio=f"{stop / batch:.1f}x" if stop is not None and batch else "-",
        target=f"< {TARGET_SECONDS:.0f} s",
        met=met,
        note="" if met else _note(result, stop),
    )
    handled_after = result.after_patch(result.handled)
    released = result.released_seconds
    lines = [
        f"cancelled after {result.parts_done} of {result.parts_all} parts "
        f"({result.counts[0].value:,} of {result.rows_total:,} v56 rows left at the first count)",
        f"PATCH answered in {1000 * result.patch_seconds:.0f} ms; "
        f"GET showed task_status 2 after {1000 * result.status_seconds:.0f} ms",
        "deletes stopped, by count(*) of v56: "
        + _bounds(by_count)
        + f" (each count took ~{count_ms:.0f} ms: that is the resolution)",
        "deletes stopped, by the subtasks' progress (committed with each batch, polled every "
        f"{1000 * COUNT_EVERY:.0f} ms): " + _bounds(by_progress),
        f"rows deleted after the PATCH was sent: at most {handled_after:,} "
        f"(~{handled_after / gc_common.BATCH_SIZE:.1f} batches of {gc_common.BATCH_SIZE:,})",
        "the worker let go of its subtask after "
        + (f"{released:.2f} s" if released is not None else "never (within the bound)"),
        f"one batch took {1000 * batch:.0f} ms (median of the finished parts)",
        f"load average: {result.load}",
    ]
    util.print_block("7. Cancelling a running GC", lines, outcome)
    return outcome


def _bounds(bounds: tuple[float, float] | None) -> str:
    if bounds is None:
        return f"still changing {CANCEL_TIMEOUT:.0f} s after the PATCH"
    upper, lower = bounds
    if lower <= 0:
        return f"within {upper:.2f} s of the PATCH"
    return f"within {upper:.2f} s of the PATCH (the last change came after {lower:.2f} s)"


def _note(result: Cancelled, stop: float | None) -> str:
    if stop is None:
        return f"descriptors still being deleted {CANCEL_TIMEOUT:.0f} s after the cancel"
    return (
        f"stop {stop:.2f} s, status {result.status_seconds:.2f} s, "
        f"one batch {result.batch_seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
