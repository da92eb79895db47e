"""Writing notifications: one outbox row per enabled callback and event.

The rows are written on the caller's connection, inside the transaction that
changes the status: the notification exists exactly when the change was
committed (a rolled back change notifies nobody, a committed one is never
forgotten). Delivery is the dispatcher's business, later and elsewhere, so a
slow or dead callback endpoint never holds a task back.

Each row keeps a copy of its callback as it was when the event happened,
secrets included (the dispatcher needs them; the table is never shown).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from webapp.notify.policy import enabled_callbacks

INSERT_SQL = (
    "INSERT INTO notification_outbox (task_id, subtask_id, callback, payload) "
    # ::text::jsonb: correct whether or not the connection has a json codec.
    "VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb)"
)

TASK_COLUMNS = (
    "task_id, task_type, task_status, notification_policy, "
    "count_task_parts_done, count_task_parts_all"
)
"""What the enqueue functions read from `task`: `UPDATE task ... RETURNING` these."""


def task_payload(
    task: Mapping[str, Any], *, result_url: str | None = None, error: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "task_id": int(task["task_id"]),
        "task_status": int(task["task_status"]),
        "task_type": int(task["task_type"]),
    }
    if result_url is not None:
        payload["result_url"] = result_url
    if error is not None:
        payload["error"] = error
    return payload


def subtask_payload(
    task: Mapping[str, Any], subtask_id: int, subtask_status: int
) -> dict[str, Any]:
    return {
        "task_id": int(task["task_id"]),
        "subtask_id": int(subtask_id),
        "subtask_status": int(subtask_status),
        "count_task_parts_done": int(task["count_task_parts_done"]),
        "count_task_parts_all": int(task["count_task_parts_all"]),
    }


async def _insert(
    conn: Any,
    callbacks: list[dict[str, Any]],
    task_id: int,
    subtask_id: int | None,
    payload: dict[str, Any],
) -> int:
    if not callbacks:
        return 0
    body = json.dumps(payload)
    await conn.executemany(
        INSERT_SQL, [(task_id, subtask_id, json.dumps(cb), body) for cb in callbacks]
    )
    return len(callbacks)


async def enqueue_task_event(
    conn: Any,
    task: Mapping[str, Any],
    *,
    result_url: str | None = None,
    error: str | None = None,
) -> int:
    """Queue the task callbacks for the task's current status; return how many rows.

    Call it in the transaction that changed `task_status`, with the task as it
    is after the change. `result_url` goes with done tasks that kept a result,
    `error` with failed ones.
    """
    callbacks = enabled_callbacks(task.get("notification_policy"), "task_callbacks")
    payload = task_payload(task, result_url=result_url, error=error)
    return await _insert(conn, callbacks, payload["task_id"], None, payload)


async def enqueue_subtask_event(
    conn: Any, task: Mapping[str, Any], subtask_id: int, subtask_status: int
) -> int:
    """Queue the subtask callbacks for a subtask's new status; return how many rows.

    Call it in the transaction that changed the subtask, with the task's part
    counts as they are after the change (count_task_parts_done included).
    """
    callbacks = enabled_callbacks(task.get("notification_policy"), "subtask_callbacks")
    payload = subtask_payload(task, subtask_id, subtask_status)
    return await _insert(conn, callbacks, payload["task_id"], int(subtask_id), payload)


KEEP_FINISHED_SECONDS = 7 * 86400
"""How long delivered and given-up rows stay (for inspection) before `purge_finished`."""


async def purge_finished(conn: Any, older_than_seconds: float = KEEP_FINISHED_SECONDS) -> int:
    """Delete delivered and given-up rows created more than `older_than_seconds` ago.

    The outbox only grows otherwise; housekeeping calls this now and then.
    Pending rows are never touched, however old.
    """
    status = await conn.execute(
        "DELETE FROM notification_outbox "
        "WHERE (delivered_time IS NOT NULL OR failed) "
        "AND create_time < now() - make_interval(secs => $1)",
        float(older_than_seconds),
    )
    return int(status.split()[-1])
