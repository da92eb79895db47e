"""The scheduler leader: the one process that fires schedules.

APScheduler 3.x in several processes would fire every job in every process, so
only the holder of a PostgreSQL session advisory lock runs it. The lock lives on
a dedicated connection (not the pool's): when the process dies or its connection
drops, PostgreSQL releases the lock and a standby, retrying every
`retry_seconds`, takes over. The same connection LISTENs on the schedules
channel: each committed change names its schedule and the leader resyncs that
job at once; a full resync every `resync_seconds` covers a lost notification.

Catch-up policy: jobs are coalesced (coalesce=True, max_instances=1) and have no
misfire limit (misfire_grace_time=None), and a job whose schedule missed fires
while no leader ran starts at its first missed time. APScheduler then runs it
once, for the latest missed time, and continues on the trigger: after downtime
of any length, at most ONE catch-up run. The baseline is the schedule's last
recorded fire, or its last change if later (starting a paused schedule does
not catch up what the pause skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from webapp import db
from webapp.schedules import service
from webapp.schedules.triggers import first_due, stored_trigger
from webapp.settings import Settings
from webapp.web.errors import LunaError

log = logging.getLogger(__name__)

# APScheduler's own INFO lines say "Added job" / "Removed job" for every job:
# 10,000 lines (1 MB of log and ~0.4 s here) each time a leader takes over
# 10,000 schedules. The leader says what it did; APScheduler's warnings (a run
# missed, a run skipped) still show.
scheduler_log = logging.getLogger(f"{__name__}.apscheduler")
scheduler_log.setLevel(logging.WARNING)
# Its executor says "Running job" and "executed successfully" for every fire; the
# fire's own line (webapp.schedules.service) says what it did.
logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)

LEADER_LOCK = 5_010_002
"""Advisory lock key of the scheduler leader (fixed; MIGRATION_LOCK is 5_010_001)."""

FireFunction = Callable[[int, datetime, Settings], Awaitable[Any]]
FireManyFunction = Callable[[list[int], datetime, Settings], Awaitable[Any]]

BATCH_WINDOW = 0.02
"""Seconds a due fire waits for the others due at the same time."""
BATCH_SIZE = 100
"""Fires per transaction (service.fire_many): fewer round trips than one each,
and a transaction short enough not to hold many schedules locked for long."""
BATCH_CONCURRENCY = 4
"""Transactions of one batch at once (the pool has DB_POOL_SIZE connections)."""

FIRE_ATTEMPTS = 4
"""A fire that fails (the database unreachable) is tried again after 1, 2, 3 s."""

YIELD_EVERY = 500
"""Jobs added between two yields to the event loop: a sync of 10,000 schedules
takes seconds, and requests, heartbeats and due jobs must not wait for all of it."""


async def _fire_many(schedule_ids: list[int], fire_time: datetime, settings: Settings) -> Any:
    return await service.fire_many(schedule_ids, fire_time, settings)


def _one_by_one(fire: FireFunction) -> FireManyFunction:
    """A batch fired by a function that fires one schedule (tests record fires so)."""

    async def fire_each(schedule_ids: list[int], fire_time: datetime, settings: Settings) -> None:
        for schedule_id in schedule_ids:
            await fire(schedule_id, fire_time, settings)

    return fire_each


class Leader:
    def __init__(
        self,
        settings: Settings,
        lock_key: int = LEADER_LOCK,
        retry_seconds: float = 2.0,
        resync_seconds: float = 30.0,
        fire: FireFunction | None = None,
        fire_many: FireManyFunction = _fire_many,
        fire_retry_seconds: float = 1.0,
    ) -> None:
        self.settings = settings
        self.fire_retry_seconds = fire_retry_seconds
        self.lock_key = lock_key
        self.retry_seconds = retry_seconds
        self.resync_seconds = resync_seconds
        self.fire_many = fire_many if fire is None else _one_by_one(fire)
        self._batches: dict[datetime, _Batch] = {}
        self._running: set[asyncio.Task[None]] = set()
        self.is_leader = False
        self.scheduler: AsyncIOScheduler | None = None
        self._changed: set[int] = set()
        self._wake = asyncio.Event()
        self._due: dict[str, datetime] = {}
        self._triggers: dict[int, str] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by until the lock is ours, lead until stopped or the connection drops."""
        while not stop.is_set():
            conn = None
            try:
                conn = await db.engine().get_new_connection()
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
                    await self._lead(conn, stop)
            except Exception:
                log.exception("scheduler leader: connection lost or failed")
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()  # releases the lock, if held
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_seconds)

    async def _lead(self, conn: Any, stop: asyncio.Event) -> None:
        log.info("scheduler leader: this process leads (lock %s)", self.lock_key)
        started = asyncio.get_running_loop().time()
        self._changed.clear()
        self._triggers.clear()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            if payload.isdigit():
                self._changed.add(int(payload))
                self._wake.set()

        await conn.add_listener(service.CHANNEL, on_notify)
        scheduler = AsyncIOScheduler(timezone=UTC, logger=scheduler_log)
        scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        # Paused while the first sync adds every job: running, it would wake up
        # (look for due jobs, reset its timer) once per job added.
        scheduler.start(paused=True)
        self.scheduler = scheduler
        self.is_leader = True
        try:
            await self._sync(None)
            scheduler.resume()
            loop = asyncio.get_running_loop()
            # Says when a new leader has every job in place, and how long that took
            # from the lock: the schedules benches (bench/schedules_*.py) wait for it.
            log.info(
                "scheduler leader: %d schedules scheduled in %.2f s",
                len(self._triggers),
                loop.time() - started,
            )
            next_full = loop.time() + self.resync_seconds
            while not stop.is_set():
                # A change notified while the last pass ran is handled at once, not
                # after a second of waiting (no await between the test and the clear,
                # so no notification slips in between).
                if not self._changed:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wait(stop), min(1.0, self.retry_seconds))
                # The lock is only ours while this connection lives.
                await conn.fetchval("SELECT 1")
                if loop.time() >= next_full:
                    self._changed.clear()  # the full sync reads them all
                    await self._sync(None)
                    next_full = loop.time() + self.resync_seconds
                elif self._changed:
                    ids, self._changed = sorted(self._changed), set()
                    await self._sync(ids)
        finally:
            self.is_leader = False
            self.scheduler = None
            scheduler.shutdown(wait=False)
            log.info("scheduler leader: stepped down")

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _sync(self, ids: list[int] | None) -> None:
        """Make the jobs match the table (all of it, or the schedules `ids`)."""
        scheduler = self.scheduler
        assert scheduler is not None
        rows = await service.running_schedules(ids)
        wanted = {row["schedule_id"]: row for row in rows}
        candidates = set(self._triggers) if ids is None else set(ids)
        for schedule_id in candidates - set(wanted):
            if self._triggers.pop(schedule_id, None) is None:
                continue  # never scheduled here (created paused, say)
            with contextlib.suppress(Exception):
                scheduler.remove_job(str(schedule_id))
            log.info("scheduler leader: schedule %s unscheduled (paused or deleted)", schedule_id)
        now = datetime.now(UTC)
        added = 0
        for schedule_id, row in wanted.items():
            # Not the baseline: it moves with every fire, and re-adding a job just
            # as it falls due would lose that fire.
            key = repr(sorted(row["trigger"].items())) + repr(row["last_update_time"])
            if self._triggers.get(schedule_id) == key:
                continue
            try:
                trigger = stored_trigger(row["trigger"])
            except LunaError:
                log.warning("schedule %s: invalid stored trigger, not scheduled", schedule_id)
                continue
            # Given the first run time (the catch-up rule and the next fire time in
            # one computation), APScheduler computes nothing; and a fire that falls
            # due while a long sync runs is run late, not lost.
            scheduler.add_job(
                self._run,
                trigger,
                args=[schedule_id],
                id=str(schedule_id),
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
                next_run_time=first_due(trigger, row["baseline"], now),
            )
            if ids is not None:  # a change (a takeover would say it 10,000 times)
                log.info("scheduler leader: schedule %s scheduled", schedule_id)
            self._triggers[schedule_id] = key
            added += 1
            if added % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        # APScheduler does not pass the scheduled time to the job; the event,
        # dispatched before the job's coroutine starts, does.
        if event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1]

    async def _run(self, schedule_id: int) -> None:
        """The job of a schedule: its fire joins the batch of its fire time and
        returns when that batch has been fired."""
        fire_time = self._due.pop(str(schedule_id), None) or datetime.now(UTC).replace(
            microsecond=0
        )
        batch = self._batches.get(fire_time)
        if batch is None:
            # APScheduler hands over every job due at one time in one pass; the
            # window collects them into one batch.
            loop = asyncio.get_running_loop()
            batch = self._batches[fire_time] = _Batch([], loop.create_future())
            loop.call_later(BATCH_WINDOW, self._start_batch, fire_time)
        batch.ids.append(schedule_id)
        await asyncio.shield(batch.done)

    def _start_batch(self, fire_time: datetime) -> None:
        batch = self._batches.pop(fire_time)
        task = asyncio.create_task(self._fire_batch(batch, fire_time))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _fire_batch(self, batch: _Batch, fire_time: datetime) -> None:
        limit = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def chunk(ids: list[int]) -> None:
            async with limit:
                await self._fire_chunk(ids, fire_time)

        try:
            ids = batch.ids
            await asyncio.gather(
                *(chunk(ids[i : i + BATCH_SIZE]) for i in range(0, len(ids), BATCH_SIZE))
            )
        finally:
            batch.done.set_result(None)

    async def _fire_chunk(self, ids: list[int], fire_time: datetime) -> None:
        for attempt in range(1, FIRE_ATTEMPTS + 1):
            try:
                await self.fire_many(ids, fire_time, self.settings)
                return
            except Exception:
                # The database away for a moment (a failover, a full pool) must not
                # cost the fires. Trying again is safe: a fire that did commit is
                # found under its (schedule_id, fire_time) and creates nothing more.
                if attempt == FIRE_ATTEMPTS:
                    log.exception(
                        "schedules %s: fire for %s failed %d times, given up",
                        ids,
                        fire_time,
                        attempt,
                    )
                    return
                log.warning(
                    "schedules %s: fire for %s failed, trying again",
                    ids,
                    fire_time,
                    exc_info=True,
                )
                await asyncio.sleep(self.fire_retry_seconds * attempt)


@dataclass
class _Batch:
    """The fires due at one time, collected for BATCH_WINDOW."""

    ids: list[int]
    done: asyncio.Future[None]
