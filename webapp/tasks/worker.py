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
- A subtask that fails records a task error; the task goes on, and fails only
  when every subtask failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

from webapp import db
from webapp.notify import outbox
from webapp.settings import Settings
from webapp.tasks.states import Status, TaskType
from webapp.tasks.work import Applied, ResultPart, Work
from webapp.web.errors import BY_NAME, LunaError

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
    """The task was cancelled; the subtask is marked cancelled."""


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
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        worker_id: str | None = None,
        work_factory: Callable[[int, dict[str, Any], Settings], Work] = make_work,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self.work_factory = work_factory

    # ---------------------------------------------------------------- loop

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.2) -> None:
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                busy = await self.run_one()
            except Exception:
                log.exception("worker %s: unexpected error", self.worker_id)
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_seconds)
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
            await self._run_batches(
                work, subtask_id, json.loads(claimed["content"]), json.loads(claimed["progress"])
            )
            await self._finish_subtask(task_id, subtask_id, Status.DONE)
        except SubtaskLost:
            log.warning(
                "subtask %s of task %s was taken away from %s", subtask_id, task_id, self.worker_id
            )
        except SubtaskCancelled:
            await self._cancelled(task_id, subtask_id)
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
        self, work: Work, subtask_id: int, subtask: dict[str, Any], progress: dict[str, Any]
    ) -> None:
        cursor = progress.get("cursor")
        while True:
            async with db.connection() as conn:
                batch = await work.fetch(conn, subtask, cursor)
            if batch is None:
                return
            computed = await work.compute(batch)
            async with db.connection() as conn, conn.transaction():
                await self._check_ownership(conn, subtask_id)
                part = ResultPart(subtask_id, int(progress.get("batches", 0)))
                applied = await work.apply(conn, batch, computed, part)
                progress = await self._record_batch(conn, work, subtask_id, progress, applied)
            cursor = applied.cursor

    async def _check_ownership(self, conn: Any, subtask_id: int) -> None:
        row = await conn.fetchrow(OWNERSHIP_SQL, subtask_id, self.worker_id)
        if row is None or row["subtask_status"] != Status.IN_PROGRESS:
            raise SubtaskLost
        if row["task_status"] == Status.CANCELLED:
            raise SubtaskCancelled  # the transaction rolls back: this batch is not applied

    async def _record_batch(
        self, conn: Any, work: Work, subtask_id: int, progress: dict[str, Any], applied: Applied
    ) -> dict[str, Any]:
        seq = int(progress.get("batches", 0))
        progress = {
            "cursor": applied.cursor,
            "batches": seq + 1,
            "handled": int(progress.get("handled", 0)) + applied.handled,
            "failed": int(progress.get("failed", 0)) + len(applied.errors),
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
        if applied.errors:
            await conn.executemany(
                "INSERT INTO task_error (task_id, subtask_id, error_code, description, detail) "
                "SELECT task_id, $1, $2, $3, $4 FROM subtask WHERE subtask_id = $1",
                [
                    (
                        subtask_id,
                        BY_NAME[name].code,
                        BY_NAME[name].desc,
                        BY_NAME[name].detail.format(**params),
                    )
                    for name, params in applied.errors
                ],
            )
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
                "UPDATE task SET task_status = 1, last_update_time = now() "
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
            if status == Status.DONE:
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
        kind = BY_NAME["SUBTASK_FAILED"]
        with contextlib.suppress(SubtaskLost):
            await db.fetch(
                "INSERT INTO task_error (task_id, subtask_id, error_code, description, detail) "
                "VALUES ($1, $2, $3, $4, $5)",
                task_id,
                subtask_id,
                kind.code,
                kind.desc,
                reason[:2000],
            )
            await self._finish_subtask(task_id, subtask_id, Status.FAILED)


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
        if task["task_status"] != Status.COLLECTING_RESULTS:
            task = await conn.fetchrow(
                "UPDATE task SET task_status = 4, last_update_time = now() WHERE task_id = $1 "
                "RETURNING *",
                task_id,
            )
            await outbox.enqueue_task_event(conn, task)
        work = make_work(task["task_type"], json.loads(task["content"]), settings)
        failed = counts.get(Status.FAILED, 0)
        if failed == sum(counts.values()) or (failed and work.all_or_nothing):
            error = (
                "every subtask failed"
                if failed == sum(counts.values())
                else (f"{failed} of {sum(counts.values())} subtasks failed")
            )
            task = await conn.fetchrow(
                "UPDATE task SET task_status = 3, end_time = now(), last_update_time = now() "
                "WHERE task_id = $1 RETURNING *",
                task_id,
            )
            await outbox.enqueue_task_event(conn, task, error=error)
            log.warning("task %s failed: %s", task_id, error)
            return
        collected = await work.collect(conn, task_id)
        result_id = await _store_result(conn, work, task, collected)
        task = await conn.fetchrow(
            "UPDATE task SET task_status = 5, result_id = $2, end_time = clock_timestamp(), "
            "last_update_time = now() WHERE task_id = $1 RETURNING *",
            task_id,
            result_id,
        )
        result_url = f"{settings.api_prefix}/tasks/{task_id}/result" if result_id else None
        await outbox.enqueue_task_event(conn, task, result_url=result_url)
    log.info("task %s done", task_id)


MAX_RESULT_IDS = 1_000_000
"""Ids listed in one result (an answer of about 40 MB); beyond this the result
says how many it leaves out."""


async def _store_result(
    conn: Any, work: Work, task: Any, collected: dict[str, Any]
) -> uuid.UUID | None:
    """The result's counts. Its ids stay in the parts the batches wrote: the
    result route reads them from there (webapp/tasks/service.py), so finishing a
    task costs the same whether it handled ten ids or a million."""
    if not work.stores_result:
        return None  # GC with store_results false: the counts are in the subtasks
    totals = await conn.fetchrow(
        "SELECT coalesce(sum((progress->>'handled')::bigint), 0) AS handled, "
        "coalesce(sum((progress->>'failed')::bigint), 0) AS failed "
        "FROM subtask WHERE task_id = $1",
        task["task_id"],
    )
    handled = int(totals["handled"])
    summary, ids_key = work.summary(handled, int(totals["failed"]))
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
            "RETURNING s.subtask_id, s.task_id, s.worker_id",
            dead_after,
        )
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
    """The reaper, the result TTL and the audit retention, periodically, in every
    serving or worker process."""
    from webapp.audit import service as audit_service
    from webapp.tasks.service import delete_expired_results, resume_account_removals

    while not stop.is_set():
        try:
            await reap(settings)
            await resume_account_removals(settings)
            await delete_expired_results()
            async with db.connection() as conn:
                await outbox.purge_finished(conn)
            await audit_service.purge_expired(settings.audit_retention_days)
        except Exception:
            log.exception("housekeeping failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
