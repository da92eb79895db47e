"""Schedules: validation of their bodies, storage, and `fire`, the one place a
scheduled task is created. Nothing here knows HTTP.

Every change is followed, in the same transaction, by NOTIFY on CHANNEL, so the
leader (whichever process it is in) resyncs that schedule within a second of
the commit, and never before it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webapp import audit, db
from webapp.notify.policy import check_destinations, keep_secrets, mask, normalise
from webapp.schedules.triggers import cron_trigger, stored_trigger
from webapp.schedules.zones import UTC_NAME
from webapp.settings import Settings
from webapp.tasks import service as tasks
from webapp.tasks.schemas import additional_extract_schema, gc_schema
from webapp.tasks.states import STATUS_NAMES, TaskType
from webapp.web.body import check_body
from webapp.web.errors import LunaError
from webapp.web.params import Page

log = logging.getLogger(__name__)

CHANNEL = "luna_admin_schedules"
"""LISTEN/NOTIFY channel; the payload is the schedule id that changed."""

SCHEDULABLE = {
    int(TaskType.GC): gc_schema,
    int(TaskType.ADDITIONAL_EXTRACT): additional_extract_schema,
}

UNFINISHED = (0, 1, 4)
"""Task statuses that block the next fire (pending, in progress, collecting results)."""

SCHEDULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "object",
            "properties": {"task_type": {"enum": sorted(SCHEDULABLE)}},
            "required": ["task_type"],
        },
        "trigger": {
            "type": "object",
            "properties": {
                "cron": {"type": "string", "minLength": 1, "maxLength": 128},
                "cron_timezone": {"type": "string", "minLength": 1, "maxLength": 64},
            },
            "required": ["cron"],
            "additionalProperties": False,
        },
        "behaviour": {
            "type": "object",
            "properties": {
                "start_immediately": {"type": "boolean"},
                "create_stopped": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    },
    "required": ["task", "trigger"],
    "additionalProperties": False,
}


def form_schema(task_type: int) -> dict[str, Any]:
    """SCHEDULE_SCHEMA with the task's own schema in place, for typing the strings of
    a page's form (`task.content.filters.descriptor_version` is an integer). Only
    for that: parse_body checks the body as the API does."""
    task = SCHEDULABLE[task_type]()
    task_properties = {**task["properties"], **SCHEDULE_SCHEMA["properties"]["task"]["properties"]}
    properties = {**SCHEDULE_SCHEMA["properties"], "task": {**task, "properties": task_properties}}
    return {**SCHEDULE_SCHEMA, "properties": properties}


@dataclass(frozen=True)
class ScheduleBody:
    task_type: int
    task: dict[str, Any]
    trigger: dict[str, Any]
    start_immediately: bool
    create_stopped: bool


def parse_body(
    body: Any, settings: Settings, previous_task: dict[str, Any] | None = None
) -> ScheduleBody:
    """Check a posted schedule completely (its task exactly as the task routes
    check theirs); LunaError before anything is stored.

    A masked notification secret (`********`, as GET shows it) keeps the one
    stored in `previous_task` (PUT), and is refused when there is none: storing
    the mask would make every fire fail later, silently."""
    check_body(body, SCHEDULE_SCHEMA)
    task = dict(body["task"])
    task_type = int(task.pop("task_type"))
    try:
        check_body(task, SCHEDULABLE[task_type]())
    except LunaError as error:
        if error.kind.name != "JSON_VALIDATION":
            raise
        path = f"task.{error.params['path']}".rstrip(".")
        raise LunaError("JSON_VALIDATION", path=path, message=error.params["message"]) from None
    if "notification_policy" in task:
        previous = (previous_task or {}).get("notification_policy")
        check_destinations(
            task["notification_policy"], settings.allowed_networks, "task.notification_policy."
        )
        try:
            task["notification_policy"] = keep_secrets(
                normalise(task["notification_policy"]), previous
            )
        except LunaError as error:
            if error.kind.name != "JSON_VALIDATION":
                raise
            path = f"task.notification_policy.{error.params['path']}"
            raise LunaError("JSON_VALIDATION", path=path, message=error.params["message"]) from None
    _check_work(task_type, task["content"], settings)
    zone_name = body["trigger"].get("cron_timezone", UTC_NAME)
    built = cron_trigger({"cron": body["trigger"]["cron"], "cron_timezone": zone_name})
    # Stored with its fields separated by one space, as it was read.
    trigger = {"cron": built.spec.text, "cron_timezone": zone_name}
    behaviour = body.get("behaviour") or {}
    return ScheduleBody(
        task_type=task_type,
        task={"task_type": task_type, **task},
        trigger=trigger,
        start_immediately=bool(behaviour.get("start_immediately", False)),
        create_stopped=bool(behaviour.get("create_stopped", False)),
    )


def _check_work(task_type: int, content: dict[str, Any], settings: Settings) -> Any:
    from webapp.tasks.controller import _check_backend
    from webapp.tasks.worker import make_work

    work = make_work(task_type, content, settings)
    if task_type == TaskType.ADDITIONAL_EXTRACT:
        _check_backend(work, content)
    return work


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


COLUMNS = (
    "s.schedule_id, s.task, s.trigger, s.status, "
    f"{db.iso_sql('s.next_run_time', 'next_run_time')}, "
    f"{db.iso_sql('s.create_time', 'create_time')}, "
    f"{db.iso_sql('s.last_update_time', 'last_update_time')}, "
    "ARRAY(SELECT t.task_id FROM task t WHERE t.schedule_id = s.schedule_id "
    "ORDER BY t.task_id) AS task_ids"
)


def schedule_json(row: Any) -> dict[str, Any]:
    """A schedule as every answer shows it. Its task carries both policies, at their
    defaults when none was given, exactly as the tasks it creates do; filled in here,
    on reading, so that schedules stored without them show them too (the stored task
    keeps "none given", which an edit on the page relies on)."""
    task = _json(row["task"])
    task["notification_policy"] = mask(normalise(task.get("notification_policy")))
    task["result_storage_policy"] = tasks.result_storage_policy(task.get("result_storage_policy"))
    return {
        "schedule_id": row["schedule_id"],
        "task_ids": list(row["task_ids"]),
        "task": task,
        "trigger": _json(row["trigger"]),
        "status": row["status"],
        "next_run_time": row["next_run_time"],
        "create_time": row["create_time"],
        "last_update_time": row["last_update_time"],
    }


def _next_run(trigger: dict[str, Any], status: str) -> datetime | None:
    if status != "running":
        return None
    return cron_trigger(trigger).get_next_fire_time(None, datetime.now(UTC))


async def _notify(conn: Any, schedule_id: int) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(schedule_id))


def _audit_details(parsed: ScheduleBody, status: str) -> dict[str, Any]:
    """A schedule as the audit log keeps it (its task's policy masked by audit.record)."""
    return {"task": parsed.task, "trigger": parsed.trigger, "status": status}


async def create_schedule(parsed: ScheduleBody, settings: Settings) -> int:
    status = "paused" if parsed.create_stopped else "running"
    async with db.connection() as conn, conn.transaction():
        schedule_id = await conn.fetchval(
            "INSERT INTO task_schedule (task_type, task, trigger, status, next_run_time) "
            "VALUES ($1, $2::jsonb, $3::jsonb, $4, $5) RETURNING schedule_id",
            parsed.task_type,
            json.dumps(parsed.task),
            json.dumps(parsed.trigger),
            status,
            _next_run(parsed.trigger, status),
        )
        await _notify(conn, schedule_id)
        details = _audit_details(parsed, status)
        await audit.record(conn, "schedule.create", "schedule", schedule_id, details)
    log.info("schedule %s created (%s)", schedule_id, status)
    if parsed.start_immediately:
        await fire(int(schedule_id), datetime.now(UTC), settings, even_paused=True)
    return int(schedule_id)


@dataclass
class ScheduleFilters:
    task_type: int | None = None
    create_time_gte: datetime | None = None
    create_time_lt: datetime | None = None


def _where(filters: ScheduleFilters) -> tuple[str, list[Any]]:
    where, args = ["TRUE"], []
    for sql, value in (
        ("s.task_type = {}", filters.task_type),
        ("s.create_time >= {}", filters.create_time_gte),
        ("s.create_time < {}", filters.create_time_lt),
    ):
        if value is not None:
            args.append(value)
            where.append(sql.format(f"${len(args)}"))
    return " AND ".join(where), args


async def list_schedules(filters: ScheduleFilters, page: Page) -> list[dict[str, Any]]:
    where, args = _where(filters)
    rows = await db.fetch_page(
        f"SELECT {COLUMNS} FROM task_schedule s WHERE {where} "
        "ORDER BY s.create_time DESC, s.schedule_id DESC",
        args,
        page,
    )
    return [schedule_json(row) for row in rows]


DAY_RULE_NOTE = (
    "Both day fields are restricted: since the crontab(5) rules came in, a day matching "
    "either one runs it (before, a day had to match both). Saving the schedule again "
    "removes this note."
)


async def trigger_notes(schedules: list[dict[str, Any]]) -> dict[int, str]:
    """What the pages say beside a schedule whose trigger means something else than
    when it was stored: the day rule (flagged by the migration that brought the
    crontab(5) rules), or a trigger those rules refuse (it does not fire)."""
    ids = [s["schedule_id"] for s in schedules]
    flagged = await db.fetch(
        "SELECT schedule_id FROM task_schedule WHERE schedule_id = ANY($1::bigint[]) "
        "AND day_rule_changed",
        ids,
    )
    notes = {row["schedule_id"]: DAY_RULE_NOTE for row in flagged}
    for schedule in schedules:
        try:
            stored_trigger(schedule["trigger"])
        except LunaError as error:
            reason = error.params.get("message", error.detail)
            notes[schedule["schedule_id"]] = (
                f"Not valid under the crontab(5) rules ({reason}): it does not run until edited."
            )
    return notes


async def day_rule_changed_ids() -> list[int]:
    """Every schedule flagged for the day rule (the list page names them all)."""
    rows = await db.fetch(
        "SELECT schedule_id FROM task_schedule WHERE day_rule_changed ORDER BY schedule_id"
    )
    return [row["schedule_id"] for row in rows]


async def count_schedules(filters: ScheduleFilters) -> int:
    where, args = _where(filters)
    return await db.count(f"FROM task_schedule s WHERE {where}", args)


FIRE_COLUMNS = (
    "f.fire_id, f.schedule_id, "
    f"{db.iso_sql('f.fire_time', 'fire_time')}, f.outcome, f.task_id, f.reason, "
    f"{db.iso_sql('f.record_time', 'record_time')}, t.task_status"
)


def fire_json(row: Any) -> dict[str, Any]:
    """A fire as the API shows it; `task_status` is that of the task it created (null
    when skipped, or when the task was deleted since)."""
    return {name: value for name, value in row.items() if name != "schedule_id"}


async def last_fires(schedule_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The newest fire of each schedule (for the list page)."""
    rows = await db.fetch(
        f"SELECT DISTINCT ON (f.schedule_id) {FIRE_COLUMNS} FROM schedule_fire f "
        "LEFT JOIN task t ON t.task_id = f.task_id WHERE f.schedule_id = ANY($1::bigint[]) "
        "ORDER BY f.schedule_id, f.fire_time DESC",
        schedule_ids,
    )
    return {row["schedule_id"]: fire_json(row) for row in rows}


async def list_fires(schedule_id: int, page: Page) -> list[dict[str, Any]]:
    """A schedule's history, newest first: each fire's task, or why it was skipped."""
    rows = await db.fetch_page(
        f"SELECT {FIRE_COLUMNS} FROM schedule_fire f LEFT JOIN task t ON t.task_id = f.task_id "
        "WHERE f.schedule_id = $1 ORDER BY f.fire_time DESC, f.fire_id DESC",
        [schedule_id],
        page,
    )
    return [fire_json(row) for row in rows]


async def count_fires(schedule_id: int) -> int:
    return await db.count("FROM schedule_fire f WHERE f.schedule_id = $1", [schedule_id])


async def run_now(schedule_id: int, settings: Settings) -> int:
    """Run now (an extension): one fire at the current time, paused or not, under
    the overlap rule. The task id; LunaError 28040, or 29105 when the fire was
    skipped (the skip stays in the history, as every skip does)."""
    result = await fire(schedule_id, datetime.now(UTC), settings, even_paused=True)
    if result is None:
        raise LunaError("SCHEDULE_NOT_FOUND", schedule_id=schedule_id)
    if result.task_id is None:
        reason = result.reason or "this time had already been fired"
        raise LunaError("SCHEDULE_TASK_UNFINISHED", schedule_id=schedule_id, reason=reason)
    return result.task_id


async def get_schedule(schedule_id: int) -> dict[str, Any]:
    row = await db.fetchrow(
        f"SELECT {COLUMNS} FROM task_schedule s WHERE s.schedule_id = $1", schedule_id
    )
    if row is None:
        raise LunaError("SCHEDULE_NOT_FOUND", schedule_id=schedule_id)
    return schedule_json(row)


async def stored_task(schedule_id: int) -> dict[str, Any]:
    """The schedule's task as stored (secrets unmasked); 404 28040 if none."""
    row = await db.fetchrow("SELECT task FROM task_schedule WHERE schedule_id = $1", schedule_id)
    if row is None:
        raise LunaError("SCHEDULE_NOT_FOUND", schedule_id=schedule_id)
    return dict(_json(row["task"]))


async def replace_schedule(schedule_id: int, parsed: ScheduleBody, settings: Settings) -> None:
    """Replace task and trigger; cancel the schedule's unfinished task; behaviour
    applies as on creation (create_stopped pauses, start_immediately fires now)."""
    status = "paused" if parsed.create_stopped else "running"
    async with db.connection() as conn, conn.transaction():
        found = await conn.fetchval(
            "UPDATE task_schedule SET task_type = $2, task = $3::jsonb, trigger = $4::jsonb, "
            "status = $5, next_run_time = $6, last_update_time = now(), day_rule_changed = false "
            "WHERE schedule_id = $1 RETURNING schedule_id",
            schedule_id,
            parsed.task_type,
            json.dumps(parsed.task),
            json.dumps(parsed.trigger),
            status,
            _next_run(parsed.trigger, status),
        )
        if found is None:
            raise LunaError("SCHEDULE_NOT_FOUND", schedule_id=schedule_id)
        await _notify(conn, schedule_id)
        details = _audit_details(parsed, status)
        await audit.record(conn, "schedule.replace", "schedule", schedule_id, details)
        running = await conn.fetch(
            "SELECT task_id FROM task WHERE schedule_id = $1 AND task_status = ANY($2::smallint[])",
            schedule_id,
            list(UNFINISHED),
        )
    for row in running:
        try:
            await tasks.cancel_task(row["task_id"])
        except LunaError as error:  # it ended meanwhile
            if error.kind.name != "TASK_NOT_CANCELLABLE":
                raise
    log.info("schedule %s replaced; %d running task(s) cancelled", schedule_id, len(running))
    if parsed.start_immediately:
        await fire(schedule_id, datetime.now(UTC), settings, even_paused=True)


async def set_status(schedule_id: int, status: str) -> None:
    """pause / start. Starting again does not catch up what the pause skipped:
    last_update_time is the new baseline of the leader's catch-up rule."""
    async with db.connection() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT trigger, status FROM task_schedule WHERE schedule_id = $1 FOR UPDATE",
            schedule_id,
        )
        if row is None:
            raise LunaError("SCHEDULE_NOT_FOUND", schedule_id=schedule_id)
        if row["status"] == status:
            return
        await conn.execute(
            "UPDATE task_schedule SET status = $2, next_run_time = $3, last_update_time = now() "
            "WHERE schedule_id = $1",
            schedule_id,
            status,
            _next_run(_json(row["trigger"]), status),
        )
        await _notify(conn, schedule_id)
        action = "schedule.pause" if status == "paused" else "schedule.start"
        await audit.record(conn, action, "schedule", schedule_id)
    log.info("schedule %s %s", schedule_id, "paused" if status == "paused" else "started")


async def delete_schedule(schedule_id: int) -> None:
    """Delete a schedule and its history of fires; its tasks stay, their schedule_id kept."""
    async with db.connection() as conn, conn.transaction():
        found = await conn.fetchrow(
            "DELETE FROM task_schedule WHERE schedule_id = $1 RETURNING task_type, trigger",
            schedule_id,
        )
        if found is None:
            raise LunaError("SCHEDULE_NOT_FOUND", schedule_id=schedule_id)
        await conn.execute("DELETE FROM schedule_fire WHERE schedule_id = $1", schedule_id)
        await _notify(conn, schedule_id)
        details = {"task_type": found["task_type"], "trigger": _json(found["trigger"])}
        await audit.record(conn, "schedule.delete", "schedule", schedule_id, details)
    log.info("schedule %s deleted", schedule_id)


@dataclass(frozen=True)
class Fire:
    outcome: str
    """created, skipped, or duplicate (this fire time was already recorded)."""
    task_id: int | None = None
    reason: str | None = None


# A fire is one transaction: lock the schedule, record the fire under UNIQUE
# (schedule_id, fire_time), create the task or record why not, write the outcome
# and the next run time. The INSERT decides: a second process firing the same
# time waits for the first's transaction and then inserts nothing, so a fire
# creates at most one task, and the record and the task commit together.
# `fire` does it for one schedule; `fire_many`, for the leader, for many due at
# the same time, with set-based statements: a leader fires a thousand schedules
# in the same second, and round trips are most of the cost.

_RECORD_SQL = (
    "WITH fire AS (INSERT INTO schedule_fire (schedule_id, fire_time, outcome) "
    "SELECT id, $2, 'created' FROM unnest($1::bigint[]) AS id ORDER BY id "
    "ON CONFLICT (schedule_id, fire_time) DO NOTHING RETURNING schedule_id, fire_id) "
    "SELECT fire.schedule_id, fire.fire_id, previous.task_id, previous.task_status FROM fire "
    "LEFT JOIN LATERAL (SELECT task_id, task_status FROM task "
    "WHERE task.schedule_id = fire.schedule_id ORDER BY task_id DESC LIMIT 1) previous ON TRUE"
)
"""Record the fires (those not recorded yet) and read each schedule's newest task.
A statement of its own, after the lock: it sees the task that a fire of the same
schedule at another time committed while this one waited."""

_FINISH_SQL = (
    "WITH next AS (UPDATE task_schedule s SET next_run_time = n.next_run_time "
    "FROM unnest($5::bigint[], $6::timestamptz[]) AS n(schedule_id, next_run_time) "
    "WHERE s.schedule_id = n.schedule_id) "
    "UPDATE schedule_fire f SET outcome = o.outcome, task_id = o.task_id, reason = o.reason "
    "FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]) "
    "AS o(fire_id, outcome, task_id, reason) WHERE f.fire_id = o.fire_id"
)
"""Each fire's outcome, and the next run time of the running schedules fired."""


async def _fire_locked(
    conn: Any, schedules: list[Any], fire_time: datetime, settings: Settings
) -> dict[int, Fire]:
    """The fires of `schedules` (rows locked FOR UPDATE by the caller's transaction)."""
    by_id = {row["schedule_id"]: row for row in schedules}
    recorded = await conn.fetch(_RECORD_SQL, sorted(by_id), fire_time)
    results: dict[int, Fire] = {sid: Fire("duplicate") for sid in by_id}
    finished: list[tuple[int, Fire]] = []
    now = datetime.now(UTC)
    next_runs: list[tuple[int, datetime | None]] = []
    for record in recorded:
        sid = record["schedule_id"]
        schedule = by_id[sid]
        result = await _task_or_skip(conn, sid, schedule, record, fire_time, settings)
        results[sid] = result
        finished.append((record["fire_id"], result))
        if schedule["status"] == "running":
            trigger = stored_trigger(_json(schedule["trigger"]))
            next_runs.append((sid, trigger.get_next_fire_time(None, now)))
    if finished:
        await conn.execute(
            _FINISH_SQL,
            [fire_id for fire_id, _ in finished],
            [result.outcome for _, result in finished],
            [result.task_id for _, result in finished],
            [result.reason for _, result in finished],
            [sid for sid, _ in next_runs],
            [next_run for _, next_run in next_runs],
        )
    return results


async def _task_or_skip(
    conn: Any, sid: int, schedule: Any, record: Any, fire_time: datetime, settings: Settings
) -> Fire:
    """Create the fire's task, or say why not: the previous task is unfinished,
    or the task cannot be planned now (its backend went away)."""
    if record["task_status"] in UNFINISHED:
        status = STATUS_NAMES[record["task_status"]].replace("_", " ")
        return Fire(
            "skipped",
            reason=f"the previous task {record['task_id']} has not finished (it is {status})",
        )
    body = _json(schedule["task"])
    try:
        # No savepoint is needed: the only LunaErrors come from checking and
        # planning, before anything is written.
        work = _check_work(schedule["task_type"], body["content"], settings)
        task_id = await tasks.insert_task(conn, TaskType(schedule["task_type"]), body, work, sid)
    except LunaError as error:
        return Fire("skipped", reason=error.detail)
    # By the scheduler (actor: system) or by an operator (run now,
    # start_immediately); a skip changes nothing and is in the history.
    details = {
        "task_id": task_id,
        "task_type": schedule["task_type"],
        "fire_time": fire_time.isoformat(),
    }
    await audit.record(conn, "schedule.run", "schedule", sid, details)
    return Fire("created", task_id=task_id)


def _log_fire(schedule_id: int, fire_time: datetime, result: Fire) -> None:
    log.info(
        "schedule %s fired for %s: %s%s",
        schedule_id,
        fire_time.isoformat(),
        result.outcome,
        f" (task {result.task_id})" if result.task_id else f" ({result.reason})",
    )


_LOCK_SQL = (
    "SELECT schedule_id, task_type, task, trigger, status FROM task_schedule "
    "WHERE schedule_id = ANY($1::bigint[]) ORDER BY schedule_id FOR UPDATE"
)
"""Locked in id order, so two transactions firing overlapping sets cannot deadlock."""


async def fire(
    schedule_id: int, fire_time: datetime, settings: Settings, even_paused: bool = False
) -> Fire | None:
    """One fire of a schedule: record it, then create its task or record the skip.
    None when the schedule is gone (or paused, unless `even_paused`: run now, and
    start_immediately on a schedule created stopped)."""
    async with db.connection() as conn, conn.transaction():
        schedules = await conn.fetch(_LOCK_SQL, [schedule_id])
        if not schedules or (schedules[0]["status"] != "running" and not even_paused):
            return None
        result = (await _fire_locked(conn, schedules, fire_time, settings))[schedule_id]
    if result.outcome != "duplicate":
        _log_fire(schedule_id, fire_time, result)
    return result


async def fire_many(
    schedule_ids: list[int], fire_time: datetime, settings: Settings
) -> dict[int, Fire]:
    """The fires of several schedules due at the same time, in one transaction:
    each as `fire` would do it. Schedules gone or paused meanwhile are left out."""
    async with db.connection() as conn, conn.transaction():
        schedules = [
            row for row in await conn.fetch(_LOCK_SQL, schedule_ids) if row["status"] == "running"
        ]
        results = await _fire_locked(conn, schedules, fire_time, settings) if schedules else {}
    for sid, result in results.items():
        if result.outcome != "duplicate":
            _log_fire(sid, fire_time, result)
    return results


async def running_schedules(ids: list[int] | None = None) -> list[dict[str, Any]]:
    """What the leader schedules: running schedules with their trigger and the
    baseline of the catch-up rule (the last fire, or the last change if later)."""
    rows = await db.fetch(
        "SELECT s.schedule_id, s.trigger, greatest(s.last_update_time, "
        "(SELECT max(f.fire_time) FROM schedule_fire f WHERE f.schedule_id = s.schedule_id)) "
        "AS baseline, s.last_update_time FROM task_schedule s WHERE s.status = 'running' "
        "AND ($1::bigint[] IS NULL OR s.schedule_id = ANY($1::bigint[]))",
        ids,
    )
    return [
        {
            "schedule_id": row["schedule_id"],
            "trigger": _json(row["trigger"]),
            "baseline": row["baseline"],
            "last_update_time": row["last_update_time"],
        }
        for row in rows
    ]
