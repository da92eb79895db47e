"""Tasks: creation (planned into subtasks), queries, cancel, delete, results,
errors and notification policies. Nothing here knows HTTP; the workers that
run subtasks are in webapp/tasks/worker.py."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webapp import audit, db
from webapp.notify import outbox
from webapp.notify.policy import keep_secrets, mask, normalise
from webapp.settings import Settings
from webapp.tasks.account_removal import TARGET as REMOVAL_TARGET
from webapp.tasks.account_removal import AccountRemoval, is_removal, removal_content
from webapp.tasks.states import CANCELLABLE, Status, TaskType
from webapp.tasks.wakeup import announce
from webapp.tasks.work import MAX_RESULT_IDS, Counts, Filters, Work
from webapp.web.errors import LunaError
from webapp.web.params import UUID_RE, Page

log = logging.getLogger(__name__)

TASK_COLUMNS = ", ".join(
    [
        "task_id",
        "task_type",
        "task_status",
        "content",
        "description",
        "account_id::text AS account_id",
        "notification_policy",
        "result_storage_policy",
        "schedule_id",
        "result_id::text AS result_id",
        "count_task_parts_done",
        "count_task_parts_all",
        db.iso_sql("task.create_time", "create_time"),
        db.iso_sql("task.end_time", "end_time"),
        db.iso_sql("task.last_update_time", "last_update_time"),
    ]
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def result_storage_policy(given: dict[str, Any] | None) -> dict[str, Any]:
    """A result storage policy with its default (`ttl` null: kept forever) filled in."""
    return {"ttl": None, **(given or {})}


def task_json(row: Any) -> dict[str, Any]:
    return {
        "task_id": row["task_id"],
        "task_type": row["task_type"],
        "task_status": row["task_status"],
        "content": _json(row["content"]),
        "description": row["description"],
        "account_id": row["account_id"],
        "create_time": row["create_time"],
        "end_time": row["end_time"],
        "last_update_time": row["last_update_time"],
        "result_id": row["result_id"],
        "count_task_parts_done": row["count_task_parts_done"],
        "count_task_parts_all": row["count_task_parts_all"],
        "notification_policy": mask(_json(row["notification_policy"])),
        "result_storage_policy": result_storage_policy(_json(row["result_storage_policy"])),
        "schedule_id": row["schedule_id"],
    }


@dataclass
class TaskFilters:
    task_ids: list[int] | None = None
    create_time_gte: datetime | None = None
    create_time_lt: datetime | None = None
    end_time_gte: datetime | None = None
    end_time_lt: datetime | None = None
    task_type: int | None = None
    task_status: int | None = None
    schedule_id: int | None = None

    def where(self) -> Filters:
        where = Filters()
        if self.task_ids is not None:
            where.add("task_id = ANY({}::bigint[])", self.task_ids)
        for column, op, value in (
            ("create_time", ">=", self.create_time_gte),
            ("create_time", "<", self.create_time_lt),
            ("end_time", ">=", self.end_time_gte),
            ("end_time", "<", self.end_time_lt),
        ):
            if value is not None:
                where.add(f"task.{column} {op} {{}}", value)
        for column, number in (
            ("task_type", self.task_type),
            ("task_status", self.task_status),
            ("schedule_id", self.schedule_id),
        ):
            if number is not None:
                where.add(f"task.{column} = {{}}", number)
        return where


@dataclass
class ErrorFilters:
    task_ids: list[int] | None = None
    error_ids: list[int] | None = None
    error_time_gte: datetime | None = None
    error_time_lt: datetime | None = None
    error_code: int | None = None
    task_type: int | None = None
    extra: list[tuple[str, Any]] = field(default_factory=list)

    def where(self) -> Filters:
        where = Filters()
        if self.task_ids is not None:
            where.add("e.task_id = ANY({}::bigint[])", self.task_ids)
        if self.error_ids is not None:
            where.add("e.error_id = ANY({}::bigint[])", self.error_ids)
        if self.error_time_gte is not None:
            where.add("e.error_time >= {}", self.error_time_gte)
        if self.error_time_lt is not None:
            where.add("e.error_time < {}", self.error_time_lt)
        if self.error_code is not None:
            where.add("e.error_code = {}", self.error_code)
        if self.task_type is not None:
            where.add("t.task_type = {}", self.task_type)
        return where


async def create_task(
    task_type: TaskType, body: dict[str, Any], work: Work, schedule_id: int | None = None
) -> int:
    """Plan the work into subtasks and store the task with them, pending."""
    async with db.connection() as conn, conn.transaction():
        task_id = await insert_task(conn, task_type, body, work, schedule_id)
        await audit.record(conn, "task.create", "task", task_id, task_details(task_type, body))
    log.info("task %s (type %s) created", task_id, int(task_type))
    return task_id


def task_details(task_type: TaskType | int, body: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a new task (its policy masked by audit.record)."""
    return {"task_type": int(task_type), **body}


async def insert_task(
    conn: Any, task_type: TaskType, body: dict[str, Any], work: Work, schedule_id: int | None
) -> int:
    """`create_task` inside the caller's transaction (a schedule's fire records
    itself and creates its task atomically)."""
    content = body["content"]
    # keep_secrets against nothing: a masked secret copied from another task is refused.
    policy = keep_secrets(normalise(body.get("notification_policy") or {}), None)
    storage = result_storage_policy(body.get("result_storage_policy"))
    account_id = (content.get("filters") or {}).get("account_id")
    if account_id is not None and not UUID_RE.fullmatch(str(account_id).lower()):
        account_id = None  # a filter that names no account (additional extraction allows it)
    ranges = await work.plan(conn)
    # The task and its subtasks in one statement (one round trip: a schedule
    # leader may create a thousand tasks in the same second), subtasks numbered
    # in the order of their ranges.
    task_id = await conn.fetchval(
        "WITH new_task AS (INSERT INTO task (task_type, content, description, account_id,"
        " notification_policy, result_storage_policy, schedule_id, count_task_parts_all,"
        " objects_planned)"
        " VALUES ($1, $2::jsonb, $3, $4::uuid, $5::jsonb, $6::jsonb, $7, $8, $10)"
        " RETURNING task_id),"
        " parts AS (INSERT INTO subtask (task_id, content) SELECT new_task.task_id, part.content"
        " FROM new_task, unnest($9::jsonb[]) WITH ORDINALITY AS part(content, n) ORDER BY part.n)"
        " SELECT task_id FROM new_task",
        int(task_type),
        json.dumps(content),
        body.get("description", ""),
        account_id,
        json.dumps(policy),
        json.dumps(storage),
        schedule_id,
        len(ranges),
        [json.dumps(part) for part in ranges],
        work.planned,
    )
    await announce(conn)  # idle workers wake when this transaction commits
    return int(task_id)


async def list_tasks(filters: TaskFilters, page: Page) -> list[dict[str, Any]]:
    where = filters.where()
    rows = await db.fetch_page(
        f"SELECT {TASK_COLUMNS} FROM task WHERE {where.sql()} "
        "ORDER BY task.create_time DESC, task.task_id DESC",
        where.args,
        page,
    )
    return [task_json(row) for row in rows]


async def count_tasks(filters: TaskFilters) -> int:
    where = filters.where()
    return await db.count(f"FROM task WHERE {where.sql()}", where.args)


async def get_task(task_id: int) -> dict[str, Any]:
    row = await db.fetchrow(f"SELECT {TASK_COLUMNS} FROM task WHERE task_id = $1", task_id)
    if row is None:
        raise LunaError("TASK_NOT_FOUND", task_id=task_id)
    return task_json(row)


async def find_task(task_id: int) -> dict[str, Any] | None:
    try:
        return await get_task(task_id)
    except LunaError:
        return None


async def cancel_task(task_id: int) -> None:
    """Cancel: every open subtask ends cancelled at once; a worker holding one
    stops at its next batch."""
    async with db.connection() as conn, conn.transaction():
        # NO KEY UPDATE, as every writer of a task row takes it: a worker's batch
        # (which references the task from its error rows) is not blocked, so it
        # commits and lets go of the subtask this cancel then ends.
        row = await conn.fetchrow(
            "SELECT task_status, task_type, content, account_id FROM task "
            "WHERE task_id = $1 FOR NO KEY UPDATE",
            task_id,
        )
        if row is None:
            raise LunaError("TASK_NOT_FOUND", task_id=task_id)
        if Status(row["task_status"]) not in CANCELLABLE:
            raise LunaError("TASK_NOT_CANCELLABLE", task_id=task_id, status=row["task_status"])
        if is_removal(row["task_type"], _json(row["content"])):
            # The account is already gone from every route: stopping would only
            # leave its rows behind, unreachable.
            raise LunaError(
                "ACCOUNT_REMOVAL_NOT_CANCELLABLE", task_id=task_id, account_id=row["account_id"]
            )
        task = await conn.fetchrow(
            "UPDATE task SET task_status = 2, end_time = now(), last_update_time = now() "
            "WHERE task_id = $1 RETURNING *",
            task_id,
        )
        pending = await end_open_subtasks(conn, task_id)
        await outbox.enqueue_task_event(conn, task)
        for subtask in pending:
            await outbox.enqueue_subtask_event(conn, task, subtask["subtask_id"], 2)
        details = {"previous_status": row["task_status"]}
        await audit.record(conn, "task.cancel", "task", task_id, details)
    log.info("task %s cancelled", task_id)


async def end_open_subtasks(conn: Any, task_id: int) -> list[Any]:
    """Cancel every open subtask of a stopped task, the running ones too (one that a
    crashed worker held is left in progress by nobody), and return their ids.

    A subtask whose batch is being written right now (its row locked) is skipped,
    so a cancel never waits for a batch: that worker finds the task stopped when
    its batch ends, and marks its subtask cancelled itself (webapp.tasks.worker).
    """
    return list(
        await conn.fetch(
            "UPDATE subtask SET subtask_status = 2, end_time = now() WHERE subtask_id IN ("
            "SELECT subtask_id FROM subtask WHERE task_id = $1 AND subtask_status IN (0, 1) "
            "FOR UPDATE SKIP LOCKED) RETURNING subtask_id",
            task_id,
        )
    )


async def delete_task(task_id: int) -> None:
    """Delete a task with its subtasks, errors and result; a running one is cancelled first."""
    try:
        await cancel_task(task_id)
    except LunaError as error:
        if error.kind.name != "TASK_NOT_CANCELLABLE":
            raise
    async with db.connection() as conn, conn.transaction():
        deleted = await conn.fetchrow(
            "DELETE FROM task WHERE task_id = $1 RETURNING task_type, task_status", task_id
        )
        if deleted is not None:
            details = {"task_type": deleted["task_type"], "task_status": deleted["task_status"]}
            await audit.record(conn, "task.delete", "task", task_id, details)
    log.info("task %s deleted", task_id)


async def get_policy(task_id: int) -> dict[str, Any]:
    row = await db.fetchrow("SELECT notification_policy FROM task WHERE task_id = $1", task_id)
    if row is None:
        raise LunaError("TASK_NOT_FOUND", task_id=task_id)
    return mask(_json(row["notification_policy"]))


async def replace_policy(task_id: int, policy: dict[str, Any]) -> None:
    async with db.connection() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT notification_policy FROM task WHERE task_id = $1 FOR UPDATE", task_id
        )
        if row is None:
            raise LunaError("TASK_NOT_FOUND", task_id=task_id)
        merged = keep_secrets(normalise(policy), _json(row["notification_policy"]))
        await conn.execute(
            "UPDATE task SET notification_policy = $2::jsonb, last_update_time = now() "
            "WHERE task_id = $1",
            task_id,
            json.dumps(merged),
        )
        # The new policy, masked by audit.record; the old one is in the earlier events.
        details = {"notification_policy": merged}
        await audit.record(conn, "task.policy_replace", "task", task_id, details)


@dataclass(frozen=True)
class StoredResult:
    task_id: int
    content: dict[str, Any]
    """The counts and flags."""
    ids_key: str | None
    """The key under which the answer lists the handled ids, read from the parts
    the batches wrote (None: the result lists none)."""


async def get_result(task_id: int) -> StoredResult:
    row = await db.fetchrow(
        "SELECT t.task_status, r.content, r.ids_key, r.expire_time <= now() AS expired FROM task t "
        "LEFT JOIN task_result r ON r.task_id = t.task_id WHERE t.task_id = $1",
        task_id,
    )
    if row is None:
        raise LunaError("TASK_NOT_FOUND", task_id=task_id)
    if row["task_status"] != Status.DONE:
        raise LunaError("TASK_RESULT_NOT_READY", task_id=task_id, status=row["task_status"])
    if row["content"] is None or row["expired"]:
        raise LunaError("TASK_RESULT_NOT_FOUND", task_id=task_id)
    return StoredResult(task_id, dict(_json(row["content"])), row["ids_key"])


# The ids of a task's parts in the order they were handled, as the inside of a
# JSON array (uuids need no escaping), cut at the limit ($2).
RESULT_IDS_SQL = """
SELECT '"' || array_to_string(p.ids[1:least(cardinality(p.ids), $2 - p.before)], '","') || '"'
FROM (SELECT p.ids, coalesce(sum(cardinality(p.ids)) OVER (
          ORDER BY p.subtask_id, p.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
          AS before
      FROM subtask_result_part p JOIN subtask s ON s.subtask_id = p.subtask_id
      WHERE s.task_id = $1 AND cardinality(p.ids) > 0
      ORDER BY p.subtask_id, p.seq) p
WHERE p.before < $2
"""


async def result_json(result: StoredResult) -> AsyncIterator[bytes]:
    """The result as JSON, streamed: its ids are read part by part, never all in memory."""
    head = json.dumps(result.content)
    if result.ids_key is None:
        yield head.encode()
        return
    yield f"{head[:-1]}{', ' if result.content else ''}{json.dumps(result.ids_key)}: [".encode()
    separator = ""
    async with db.connection() as conn, conn.transaction():
        async for row in conn.cursor(RESULT_IDS_SQL, result.task_id, MAX_RESULT_IDS):
            yield f"{separator}{row[0]}".encode()
            separator = ", "
    yield b"]}"


async def result_summary(task_id: int) -> dict[str, Any] | None:
    """The scalar fields of a task's stored result (counts, flags), without its id lists.

    For the task page: a GC result can list millions of ids, which the page
    neither needs nor should load on every poll. None when there is no
    result, or it has expired.
    """
    row = await db.fetchrow(
        "SELECT CASE WHEN jsonb_typeof(r.content) = 'object' THEN coalesce("
        "(SELECT jsonb_object_agg(key, value) FROM jsonb_each(r.content) "
        "WHERE jsonb_typeof(value) NOT IN ('array', 'object')), '{}'::jsonb) "
        "ELSE '{}'::jsonb END AS summary "
        "FROM task_result r WHERE r.task_id = $1 "
        "AND (r.expire_time IS NULL OR r.expire_time > now())",
        task_id,
    )
    return None if row is None else dict(_json(row["summary"]))


ERRORS_FROM = "FROM task_error e JOIN task t ON t.task_id = e.task_id"
ERROR_COLUMNS = (
    "e.error_id, e.task_id, e.subtask_id, e.error_code, e.description, e.detail, "
    f"{db.iso_sql('e.error_time', 'error_time')}, e.additional_info"
)


def error_json(row: Any) -> dict[str, Any]:
    return {
        name: row[name]
        for name in (
            "error_id",
            "task_id",
            "subtask_id",
            "error_code",
            "description",
            "detail",
            "error_time",
            "additional_info",
        )
    }


async def list_errors(filters: ErrorFilters, page: Page) -> list[dict[str, Any]]:
    where = filters.where()
    rows = await db.fetch_page(
        f"SELECT {ERROR_COLUMNS} {ERRORS_FROM} WHERE {where.sql()} ORDER BY e.error_id DESC",
        where.args,
        page,
    )
    return [error_json(row) for row in rows]


async def count_errors(filters: ErrorFilters) -> int:
    where = filters.where()
    return await db.count(f"{ERRORS_FROM} WHERE {where.sql()}", where.args)


async def get_error(error_id: int) -> dict[str, Any]:
    row = await db.fetchrow(
        f"SELECT {ERROR_COLUMNS} FROM task_error e WHERE e.error_id = $1", error_id
    )
    if row is None:
        raise LunaError("TASK_ERROR_NOT_FOUND", error_id=error_id)
    return error_json(row)


async def ensure_task(task_id: int) -> None:
    if await db.fetchrow("SELECT 1 FROM task WHERE task_id = $1", task_id) is None:
        raise LunaError("TASK_NOT_FOUND", task_id=task_id)


async def list_subtasks(task_id: int) -> list[dict[str, Any]]:
    await ensure_task(task_id)
    rows = await db.fetch(
        "SELECT subtask_id, task_id, result_id::text AS result_id, subtask_status, content, "
        f"progress, {db.iso_sql('create_time', 'create_time')}, "
        f"{db.iso_sql('end_time', 'end_time')} FROM subtask WHERE task_id = $1 ORDER BY subtask_id",
        task_id,
    )
    return [
        {
            "subtask_id": row["subtask_id"],
            "task_id": row["task_id"],
            "result_id": row["result_id"],
            "create_time": row["create_time"],
            "end_time": row["end_time"],
            "subtask_status": row["subtask_status"],
            "content": {**_json(row["content"]), "progress": _json(row["progress"])},
        }
        for row in rows
    ]


PROGRESS_SQL = f"""
SELECT t.task_id, t.objects_planned,
       {db.iso_sql("t.start_time", "start_time")},
       extract(epoch FROM coalesce(t.end_time, now()) - t.start_time)::float8 AS elapsed,
       coalesce(sum((s.progress->>'handled')::bigint), 0) AS handled,
       coalesce(sum((s.progress->>'skipped')::bigint), 0) AS skipped,
       coalesce(sum((s.progress->>'failed')::bigint), 0) AS failed
FROM task t LEFT JOIN subtask s ON s.task_id = t.task_id
WHERE t.task_id = ANY($1::bigint[])
GROUP BY t.task_id
"""


@dataclass
class TaskProgress:
    """Where a task stands in objects: what the list and the task page show."""

    counts: Counts
    planned: int | None
    start_time: str | None
    elapsed: float | None
    """Seconds from the first claim to the end (or to now, while it runs)."""

    @property
    def total(self) -> int:
        """What the bar counts against: the plan, or what was seen when the
        estimate fell short (rows added after planning)."""
        return max(self.planned or 0, self.counts.seen)

    @property
    def percent(self) -> int:
        return 100 * self.counts.seen // self.total if self.total else 0

    @property
    def rate(self) -> float | None:
        """Objects per second so far."""
        if not self.elapsed or self.elapsed <= 0 or not self.counts.seen:
            return None
        return self.counts.seen / self.elapsed

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (None before the first batch)."""
        rate = self.rate
        return None if rate is None else max(self.total - self.counts.seen, 0) / rate


async def task_progress(task_ids: list[int]) -> dict[int, TaskProgress]:
    rows = await db.fetch(PROGRESS_SQL, task_ids)
    return {
        row["task_id"]: TaskProgress(
            Counts(int(row["handled"]), int(row["skipped"]), int(row["failed"])),
            row["objects_planned"],
            row["start_time"],
            row["elapsed"],
        )
        for row in rows
    }


async def delete_expired_results() -> int:
    """Expired results, with the ids their tasks' batches kept for them."""
    async with db.connection() as conn, conn.transaction():
        rows = await conn.fetch(
            "DELETE FROM task_result WHERE expire_time <= now() RETURNING task_id"
        )
        if rows:
            await conn.execute(
                "DELETE FROM subtask_result_part p USING subtask s "
                "WHERE s.subtask_id = p.subtask_id AND s.task_id = ANY($1::bigint[])",
                [row["task_id"] for row in rows],
            )
    if rows:
        log.info("deleted %d expired task result(s)", len(rows))
    return len(rows)


RESUME_AFTER_SECONDS = 60
"""How long after a removal task ended without removing its account a new one starts."""


async def start_account_removal(
    conn: Any, account_id: uuid.UUID, login: str, settings: Settings
) -> int:
    """Create the removal task of an account just marked removed, in the caller's
    transaction (webapp/tasks/account_removal.py)."""
    content = removal_content(account_id, login)
    body = {"content": content, "description": f"remove account {login}"[:128]}
    work = AccountRemoval(content, settings.gc_batch_size, settings.subtask_size)
    return await insert_task(conn, TaskType.GC, body, work, None)


async def resume_account_removals(settings: Settings) -> list[int]:
    """Start the removal again of every account marked removed that has no open
    removal task, when its last one ended RESUME_AFTER_SECONDS ago (or was deleted)."""
    open_or_recent = (
        "SELECT 1 FROM task t WHERE t.account_id = a.account_id AND t.task_type = 4 "
        "AND t.content->>'target' = $1 AND (t.task_status IN (0, 1, 4) OR t.end_time > "
        "now() - make_interval(secs => $2))"
    )
    stalled = await db.fetch(
        f"SELECT a.account_id FROM account a WHERE a.remove_time IS NOT NULL "
        f"AND NOT EXISTS ({open_or_recent})",
        REMOVAL_TARGET,
        RESUME_AFTER_SECONDS,
    )
    started = []
    for row in stalled:
        async with db.connection() as conn, conn.transaction():
            # Locked, and checked again: of several processes, one starts it.
            account = await conn.fetchrow(
                f"SELECT a.login FROM account a WHERE a.account_id = $3 "
                f"AND a.remove_time IS NOT NULL AND NOT EXISTS ({open_or_recent}) "
                "FOR NO KEY UPDATE SKIP LOCKED",
                REMOVAL_TARGET,
                RESUME_AFTER_SECONDS,
                row["account_id"],
            )
            if account is None:
                continue
            task_id = await start_account_removal(
                conn, row["account_id"], account["login"], settings
            )
            details = {"login": account["login"], "task_id": task_id, "resumed": True}
            await audit.record(conn, "account.delete", "account", row["account_id"], details)
        log.warning("removal of account %s resumed by task %s", row["account_id"], task_id)
        started.append(task_id)
    return started
