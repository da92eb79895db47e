"""Workers: claim subtasks, run them batch by batch, finish tasks.

- **Claim** with `FOR UPDATE SKIP LOCKED`: two workers never take one subtask.
- **Each batch** commits together with the subtask's progress (cursor, counts,
  the ids handled), after checking that this worker still owns the subtask
  and the task is not cancelled. A cancel therefore takes effect within one
  batch, and a subtask taken over after a crash resumes at its cursor: no work
  is lost or done twice.
- **Heartbeat** while a subtask is held; the **reaper** (any process) returns
  subtasks whose heartbeat stopped to the queue and finishes tasks whose last
  finisher died.
- **Outcomes.** Objects are handled, skipped (nothing to do) or failed; failures
  are grouped into one task error per subtask and code (webapp/tasks/task_errors.py).
  A subtask, or a task, in which nothing succeeded and something failed ends
  failed; a task whose failures reach its `max_failures` stops, failed.
- **Idle** workers wait for a notification (webapp/tasks/wakeup.py), with a slow
  poll as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from webapp import db
from webapp.notify import outbox
from webapp.settings import Settings
from webapp.tasks import processes, task_errors
from webapp.tasks.service import end_open_subtasks
from webapp.tasks.states import Status, TaskType
from webapp.tasks.wakeup import WorkSignal, announce
from webapp.tasks.work import MAX_RESULT_IDS, Applied, Counts, ResultPart, Work
from webapp.web.errors import LunaError

log = logging.getLogger(__name__)

CLAIM_SQL = """
UPDATE subtask s SET subtask_status = 1, worker_id = $1, heartbeat_time = now(),
       start_time = coalesce(s.start_time, now()), attempts = s.attempts + 1
WHERE s.subtask_id = (
    SELECT c.subtask_id FROM subtask c JOIN task t ON t.task_id = c.task_id
    WHERE c.subtask_status = 0 AND t.task_status IN (0, 1)
    ORDER BY c.subtask_id LIMIT 1
    FOR UPDATE OF c SKIP LOCKED)
RETURNING s.subtask_id, s.task_id, s.content, s.progress
"""

# The batch's guard: still ours, still running, and the task not cancelled.
OWNERSHIP_SQL = """
SELECT s.subtask_status, t.task_status FROM subtask s JOIN task t ON t.task_id = s.task_id
WHERE s.subtask_id = $1 AND s.worker_id = $2
FOR UPDATE OF s
"""


class SubtaskLost(Exception):
    """The subtask was taken away (reaped or its task deleted): stop quietly."""


class SubtaskCancelled(Exception):
    """The task was cancelled (or stopped): the subtask ends cancelled."""


class FailureLimitReached(Exception):
    """The task's failures reached its `max_failures`: it stops, failed."""

    def __init__(self, failed: int, limit: int) -> None:
        super().__init__(f"{failed} failures, limit {limit}")
        self.failed = failed
        self.limit = limit


def make_work(task_type: int, content: dict[str, Any], settings: Settings) -> Work:
    from webapp.tasks.account_removal import AccountRemoval, is_removal
    from webapp.tasks.extract import ExtractWork
    from webapp.tasks.gc import gc_work

    if is_removal(task_type, content):
        return AccountRemoval(content, settings.gc_batch_size, settings.subtask_size)
    if task_type == TaskType.GC:
        return gc_work(content, settings.gc_batch_size, settings.subtask_size)
    if task_type == TaskType.ADDITIONAL_EXTRACT:
        from webapp.extraction import UnknownBackend, get_backend

        try:
            backend = get_backend(settings.extraction_backend or None)
        except UnknownBackend as exc:  # EXTRACTION_BACKEND names nothing we have
            raise LunaError("TARGET_NOT_SUPPORTED", reason=str(exc)) from None
        return ExtractWork(content, settings.extraction_batch_size, settings.subtask_size, backend)
    raise LunaError("SUBTASK_FAILED", reason=f"task type {task_type} is not run by this service")


def new_worker_id() -> str:
    return processes.worker_id(processes.new_process_id(), 0)


class Worker:
    def __init__(
        self,
        settings: Settings,
        worker_id: str | None = None,
        work_factory: Callable[[int, dict[str, Any], Settings], Work] = make_work,
        signal: WorkSignal | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self.work_factory = work_factory
        self.signal = signal or WorkSignal()

    # ---------------------------------------------------------------- loop

    async def run(self, stop: asyncio.Event, idle_seconds: float | None = None) -> None:
        """Claim and run subtasks until `stop`; idle, wait for a wake-up (or the
        fallback poll, WORKER_IDLE_POLL_SECONDS)."""
        poll = self.settings.worker_idle_poll_seconds if idle_seconds is None else idle_seconds
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            seen = self.signal.mark()
            try:
                busy = await self.run_one()
            except Exception:
                log.exception("worker %s: unexpected error", self.worker_id)
                busy = False
            if not busy:
                await self.signal.wait(stop, poll, seen)
        log.info("worker %s stopped", self.worker_id)

    async def run_one(self) -> bool:
        """Claim and run one subtask; False when there was none."""
        claimed = await db.fetchrow(CLAIM_SQL, self.worker_id)
        if claimed is None:
            return False
        subtask_id, task_id = claimed["subtask_id"], claimed["task_id"]
        task = await self._started(task_id, subtask_id)
        content = json.loads(task["content"])
        work = self.work_factory(task["task_type"], content, self.settings)
        heartbeat = asyncio.create_task(self._heartbeat(subtask_id))
        try:
            progress = await self._run_batches(
                work,
                task_id,
                subtask_id,
                json.loads(claimed["content"]),
                json.loads(claimed["progress"]),
            )
            counts = Counts.of(progress)
            status = Status.FAILED if counts.nothing_succeeded else Status.DONE
            await self._finish_subtask(task_id, subtask_id, status)
        except SubtaskLost:
            log.warning(
                "subtask %s of task %s was taken away from %s", subtask_id, task_id, self.worker_id
            )
        except SubtaskCancelled:
            await self._cancelled(task_id, subtask_id)
        except FailureLimitReached as limit:
            await self._stop_task_at_limit(task_id, subtask_id, limit)
        except Exception as exc:
            log.exception("subtask %s of task %s failed", subtask_id, task_id)
            await self._fail_subtask(task_id, subtask_id, exc)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return True

    # ------------------------------------------------------------- batches

    async def _run_batches(
        self,
        work: Work,
        task_id: int,
        subtask_id: int,
        subtask: dict[str, Any],
        progress: dict[str, Any],
    ) -> dict[str, Any]:
        """Every batch of the subtask; its progress at the end."""
        cursor = progress.get("cursor")
        while True:
            async with db.connection() as conn:
                batch = await work.fetch(conn, subtask, cursor)
            if batch is None:
                return progress
            computed = await work.compute(batch)
            async with db.connection() as conn, conn.transaction():
                await self._check_ownership(conn, subtask_id)
                part = ResultPart(subtask_id, int(progress.get("batches", 0)))
                applied = await work.apply(conn, batch, computed, part)
                progress = await self._record_batch(conn, work, subtask_id, progress, applied)
            cursor = applied.cursor
            if applied.failures and work.max_failures is not None:
                await self._check_failure_limit(task_id, work.max_failures)

    async def _check_ownership(self, conn: Any, subtask_id: int) -> None:
        row = await conn.fetchrow(OWNERSHIP_SQL, subtask_id, self.worker_id)
        if row is None:
            raise SubtaskLost
        if row["subtask_status"] == Status.CANCELLED or Status(row["task_status"]).terminal:
            # Cancelled (or stopped at its failure limit) while this batch ran: the
            # transaction rolls back, this batch is not applied.
            raise SubtaskCancelled
        if row["subtask_status"] != Status.IN_PROGRESS:
            raise SubtaskLost

    async def _check_failure_limit(self, task_id: int, limit: int) -> None:
        failed = await db.fetchrow(
            "SELECT coalesce(sum((progress->>'failed')::bigint), 0) AS n FROM subtask "
            "WHERE task_id = $1",
            task_id,
        )
        if failed is not None and int(failed["n"]) >= limit:
            raise FailureLimitReached(int(failed["n"]), limit)

    async def _record_batch(
        self, conn: Any, work: Work, subtask_id: int, progress: dict[str, Any], applied: Applied
    ) -> dict[str, Any]:
        seq = int(progress.get("batches", 0))
        before = Counts.of(progress)
        progress = {
            "cursor": applied.cursor,
            "batches": seq + 1,
            "handled": before.handled + applied.handled,
            "skipped": before.skipped + applied.skipped,
            "failed": before.failed + len(applied.failures),
        }
        await conn.execute(
            "UPDATE subtask SET progress = $2::jsonb, heartbeat_time = now() WHERE subtask_id = $1",
            subtask_id,
            json.dumps(progress),
        )
        if applied.ids and work.stores_ids:
            await conn.execute(
                "INSERT INTO subtask_result_part (subtask_id, seq, handled, ids) "
                "VALUES ($1, $2, $3, $4::uuid[])",
                subtask_id,
                seq,
                applied.handled,
                applied.ids,
            )
        if applied.failures:
            await task_errors.record(conn, subtask_id, applied.failures)
        return progress

    async def _heartbeat(self, subtask_id: int) -> None:
        while True:
            await asyncio.sleep(self.settings.worker_heartbeat_seconds)
            await db.fetch(
                "UPDATE subtask SET heartbeat_time = now() "
                "WHERE subtask_id = $1 AND worker_id = $2 AND subtask_status = 1",
                subtask_id,
                self.worker_id,
            )

    # ---------------------------------------------------- status changes

    async def _started(self, task_id: int, subtask_id: int) -> Any:
        async with db.connection() as conn, conn.transaction():
            task = await conn.fetchrow(
                "UPDATE task SET task_status = 1, start_time = now(), last_update_time = now() "
                "WHERE task_id = $1 AND task_status = 0 RETURNING *",
                task_id,
            )
            if task is not None:
                await outbox.enqueue_task_event(conn, task)
            else:
                task = await conn.fetchrow("SELECT * FROM task WHERE task_id = $1", task_id)
            await outbox.enqueue_subtask_event(conn, task, subtask_id, Status.IN_PROGRESS)
        return task

    async def _finish_subtask(self, task_id: int, subtask_id: int, status: Status) -> None:
        async with db.connection() as conn, conn.transaction():
            # The task first, then the subtask: the order a cancel takes them in.
            await conn.execute("SELECT 1 FROM task WHERE task_id = $1 FOR NO KEY UPDATE", task_id)
            await self._check_ownership(conn, subtask_id)
            done = await conn.fetchval(
                "UPDATE subtask SET subtask_status = $3, end_time = now() "
                "WHERE subtask_id = $1 AND worker_id = $2 AND subtask_status = 1 RETURNING 1",
                subtask_id,
                self.worker_id,
                int(status),
            )
            if not done:
                raise SubtaskLost
            task = await conn.fetchrow(
                "UPDATE task SET count_task_parts_done = count_task_parts_done + 1, "
                "last_update_time = now() WHERE task_id = $1 RETURNING *",
                task_id,
            )
            await outbox.enqueue_subtask_event(conn, task, subtask_id, status)
        await finish_task_if_complete(self.settings, task_id)

    async def _cancelled(self, task_id: int, subtask_id: int) -> None:
        """The cancel normally marked the subtask already (webapp.tasks.service
        .cancel_task ends every open subtask); this covers a task stopped otherwise."""
        async with db.connection() as conn, conn.transaction():
            marked = await conn.fetchval(
                "UPDATE subtask SET subtask_status = 2, end_time = now() "
                "WHERE subtask_id = $1 AND worker_id = $2 AND subtask_status = 1 RETURNING 1",
                subtask_id,
                self.worker_id,
            )
            if marked:
                task = await conn.fetchrow("SELECT * FROM task WHERE task_id = $1", task_id)
                await outbox.enqueue_subtask_event(conn, task, subtask_id, Status.CANCELLED)
        log.info("subtask %s of task %s stopped: the task was cancelled", subtask_id, task_id)

    async def _fail_subtask(self, task_id: int, subtask_id: int, exc: Exception) -> None:
        reason = exc.detail if isinstance(exc, LunaError) else f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(SubtaskLost, SubtaskCancelled):
            async with db.connection() as conn:
                await task_errors.record_one(
                    conn, task_id, subtask_id, "SUBTASK_FAILED", reason=reason
                )
            await self._finish_subtask(task_id, subtask_id, Status.FAILED)

    async def _stop_task_at_limit(
        self, task_id: int, subtask_id: int, limit: FailureLimitReached
    ) -> None:
        """The failures reached `max_failures`: this subtask and the task end failed,
        every other open subtask cancelled (a worker holding one stops at its next batch)."""
        async with db.connection() as conn, conn.transaction():
            task = await conn.fetchrow(
                "SELECT * FROM task WHERE task_id = $1 FOR NO KEY UPDATE", task_id
            )
            if task is None or Status(task["task_status"]).terminal:
                return  # another worker stopped it first, or it was cancelled
            await conn.execute(
                "UPDATE subtask SET subtask_status = 3, end_time = now() "
                "WHERE subtask_id = $1 AND subtask_status = 1",
                subtask_id,
            )
            others = await end_open_subtasks(conn, task_id)
            await task_errors.record_one(
                conn,
                task_id,
                subtask_id,
                "TASK_FAILURE_LIMIT",
                failed=limit.failed,
                limit=limit.limit,
            )
            task = await conn.fetchrow(
                "UPDATE task SET task_status = 3, end_time = now(), last_update_time = now(), "
                "count_task_parts_done = count_task_parts_done + 1 "
                "WHERE task_id = $1 RETURNING *",
                task_id,
            )
            await outbox.enqueue_subtask_event(conn, task, subtask_id, Status.FAILED)
            for row in others:
                await outbox.enqueue_subtask_event(conn, task, row["subtask_id"], Status.CANCELLED)
            await outbox.enqueue_task_event(
                conn, task, error=f"stopped after {limit.failed} failures"
            )
        log.warning(
            "task %s stopped: %s failures reached its limit of %s",
            task_id,
            limit.failed,
            limit.limit,
        )


async def finish_task_if_complete(settings: Settings, task_id: int) -> None:
    """When every subtask has ended: collect the result and finish the task.

    The task row is locked, so of two workers finishing the last two subtasks
    at once exactly one collects.
    """
    async with db.connection() as conn, conn.transaction():
        task = await conn.fetchrow("SELECT * FROM task WHERE task_id = $1 FOR UPDATE", task_id)
        if task is None or task["task_status"] not in (
            Status.PENDING,
            Status.IN_PROGRESS,
            Status.COLLECTING_RESULTS,
        ):
            return
        counts = dict(
            await conn.fetch(
                "SELECT subtask_status, count(*) FROM subtask WHERE task_id = $1 "
                "GROUP BY subtask_status",
                task_id,
            )
        )
        if counts.get(Status.PENDING) or counts.get(Status.IN_PROGRESS):
            return
        totals = await task_counts(conn, task_id)
        if task["task_status"] != Status.COLLECTING_RESULTS:
            task = await conn.fetchrow(
                "UPDATE task SET task_status = 4, last_update_time = now() WHERE task_id = $1 "
                "RETURNING *",
                task_id,
            )
            await outbox.enqueue_task_event(conn, task)
        work = make_work(task["task_type"], json.loads(task["content"]), settings)
        failed, ended = counts.get(Status.FAILED, 0), sum(counts.values())
        reason = None
        if failed == ended:
            reason = "every subtask failed"
        elif failed and work.all_or_nothing:
            reason = f"{failed} of {ended} subtasks failed"
        elif totals.nothing_succeeded:
            reason = f"no object succeeded, {totals.failed} failed"
        if reason is not None:
            task = await conn.fetchrow(
                "UPDATE task SET task_status = 3, end_time = now(), last_update_time = now() "
                "WHERE task_id = $1 RETURNING *",
                task_id,
            )
            await outbox.enqueue_task_event(conn, task, error=reason)
            log.warning("task %s failed: %s", task_id, reason)
            return
        collected = await work.collect(conn, task_id)
        result_id = await _store_result(conn, work, task, totals, collected)
        task = await conn.fetchrow(
            "UPDATE task SET task_status = 5, result_id = $2, end_time = clock_timestamp(), "
            "last_update_time = now() WHERE task_id = $1 RETURNING *",
            task_id,
            result_id,
        )
        result_url = f"{settings.api_prefix}/tasks/{task_id}/result" if result_id else None
        await outbox.enqueue_task_event(conn, task, result_url=result_url)
    log.info("task %s done", task_id)


async def task_counts(conn: Any, task_id: int) -> Counts:
    """The task's objects handled, skipped and failed, summed over its subtasks."""
    row = await conn.fetchrow(
        "SELECT coalesce(sum((progress->>'handled')::bigint), 0) AS handled, "
        "coalesce(sum((progress->>'skipped')::bigint), 0) AS skipped, "
        "coalesce(sum((progress->>'failed')::bigint), 0) AS failed "
        "FROM subtask WHERE task_id = $1",
        task_id,
    )
    return Counts(int(row["handled"]), int(row["skipped"]), int(row["failed"]))


async def _store_result(
    conn: Any, work: Work, task: Any, totals: Counts, collected: dict[str, Any]
) -> uuid.UUID | None:
    """The result's counts. Its ids stay in the parts the batches wrote: the
    result route reads them from there (webapp/tasks/service.py), so finishing a
    task costs the same whether it handled ten ids or a million."""
    if not work.stores_result:
        return None  # GC with store_results false: the counts are in the subtasks
    handled = totals.handled
    summary, ids_key = work.summary(totals)
    summary.update(collected)
    if ids_key and handled > MAX_RESULT_IDS:
        summary[f"{ids_key}_omitted"] = handled - MAX_RESULT_IDS
    ttl = (json.loads(task["result_storage_policy"]) or {}).get("ttl")
    result_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO task_result (task_id, content, ids_key, expire_time) "
        "VALUES ($1, $2::jsonb, $3, CASE WHEN $4::int IS NULL THEN NULL "
        "ELSE now() + make_interval(days => $4::int) END) RETURNING result_id",
        task["task_id"],
        json.dumps(summary),
        ids_key,
        ttl,
    )
    return result_id


async def reap(settings: Settings) -> int:
    """Return subtasks of dead workers to the queue; finish orphaned tasks."""
    dead_after = settings.worker_dead_after_seconds
    async with db.connection() as conn, conn.transaction():
        returned = await conn.fetch(
            "UPDATE subtask s SET subtask_status = CASE WHEN t.task_status = 2 THEN 2 ELSE 0 END, "
            "worker_id = NULL, end_time = CASE WHEN t.task_status = 2 THEN now() END "
            "FROM task t WHERE t.task_id = s.task_id AND s.subtask_status = 1 "
            "AND s.heartbeat_time < now() - make_interval(secs => $1) "
            "RETURNING s.subtask_id, s.task_id, s.worker_id, s.subtask_status",
            dead_after,
        )
        if any(row["subtask_status"] == Status.PENDING for row in returned):
            await announce(conn)
    for row in returned:
        log.warning(
            "subtask %s of task %s: worker stopped heartbeating, returned to the queue",
            row["subtask_id"],
            row["task_id"],
        )
    # Tasks whose subtasks all ended but nobody collected (the collector died).
    orphans = await db.fetch(
        "SELECT t.task_id FROM task t WHERE t.task_status IN (1, 4) "
        "AND t.last_update_time < now() - make_interval(secs => $1) "
        "AND NOT EXISTS (SELECT 1 FROM subtask s WHERE s.task_id = t.task_id "
        "AND s.subtask_status IN (0, 1))",
        dead_after,
    )
    for row in orphans:
        await finish_task_if_complete(settings, row["task_id"])
    return len(returned)


async def housekeeping(settings: Settings, stop: asyncio.Event, every: float = 5.0) -> None:
    """The reaper, the result TTL, the audit retention and stale sign-in counters,
    periodically, in every serving or worker process."""
    from webapp.accounts import throttle
    from webapp.audit import service as audit_service
    from webapp.tasks.service import delete_expired_results, resume_account_removals

    counters = throttle.ThrottlePolicy(settings.login_max_failures, settings.login_failure_window)

    while not stop.is_set():
        try:
            await reap(settings)
            await processes.forget_silent(settings.worker_dead_after_seconds)
            await resume_account_removals(settings)
            await delete_expired_results()
            async with db.connection() as conn:
                await outbox.purge_finished(conn)
            await audit_service.purge_expired(settings.audit_retention_days)
            await throttle.forget_stale(counters)
        except Exception:
            log.exception("housekeeping failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
