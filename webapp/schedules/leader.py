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
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from webapp import db
from webapp.schedules import service
from webapp.schedules.triggers import cron_trigger, missed_fire
from webapp.settings import Settings
from webapp.web.errors import LunaError

log = logging.getLogger(__name__)

LEADER_LOCK = 5_010_002
"""Advisory lock key of the scheduler leader (fixed; MIGRATION_LOCK is 5_010_001)."""

FireFunction = Callable[[int, datetime, Settings], Awaitable[Any]]


async def _fire(schedule_id: int, fire_time: datetime, settings: Settings) -> Any:
    return await service.fire(schedule_id, fire_time, settings)


class Leader:
    def __init__(
        self,
        settings: Settings,
        lock_key: int = LEADER_LOCK,
        retry_seconds: float = 2.0,
        resync_seconds: float = 30.0,
        fire: FireFunction = _fire,
    ) -> None:
        self.settings = settings
        self.lock_key = lock_key
        self.retry_seconds = retry_seconds
        self.resync_seconds = resync_seconds
        self.fire = fire
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
        self._changed.clear()
        self._triggers.clear()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            if payload.isdigit():
                self._changed.add(int(payload))
                self._wake.set()

        await conn.add_listener(service.CHANNEL, on_notify)
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        scheduler.start()
        self.scheduler = scheduler
        self.is_leader = True
        try:
            await self._sync(None)
            loop = asyncio.get_running_loop()
            next_full = loop.time() + self.resync_seconds
            while not stop.is_set():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait(stop), min(1.0, self.retry_seconds))
                # The lock is only ours while this connection lives.
                await conn.fetchval("SELECT 1")
                if loop.time() >= next_full:
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
            self._triggers.pop(schedule_id, None)
            with contextlib.suppress(Exception):
                scheduler.remove_job(str(schedule_id))
        now = datetime.now(UTC)
        for schedule_id, row in wanted.items():
            # Not the baseline: it moves with every fire, and re-adding a job just
            # as it falls due would lose that fire.
            key = repr(sorted(row["trigger"].items())) + repr(row["last_update_time"])
            if self._triggers.get(schedule_id) == key:
                continue
            try:
                trigger = cron_trigger(row["trigger"])
            except LunaError:
                log.warning("schedule %s: invalid stored trigger, not scheduled", schedule_id)
                continue
            missed = missed_fire(trigger, row["baseline"], now) if row["baseline"] else None
            scheduler.add_job(
                self._run,
                trigger,
                args=[schedule_id],
                id=str(schedule_id),
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
                **({"next_run_time": missed} if missed else {}),
            )
            self._triggers[schedule_id] = key

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        # APScheduler does not pass the scheduled time to the job; the event,
        # dispatched before the job's coroutine starts, does.
        if event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1]

    async def _run(self, schedule_id: int) -> None:
        fire_time = self._due.pop(str(schedule_id), None) or datetime.now(UTC).replace(
            microsecond=0
        )
        try:
            await self.fire(schedule_id, fire_time, self.settings)
        except Exception:
            log.exception("schedule %s: fire for %s failed", schedule_id, fire_time)
