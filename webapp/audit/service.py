"""Reading the audit log, and forgetting it after AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webapp import db
from webapp.web.params import Page

log = logging.getLogger(__name__)

COLUMNS = (
    f"event_id, {db.iso_sql('event_time', 'event_time')}, actor_id::text AS actor_id, "
    "actor_login, action, target_type, target_id, details, host(ip) AS ip, user_agent, "
    "request_id"
)

PURGE_BATCH = 10_000
"""Events deleted per statement: a long backlog goes in short transactions."""


@dataclass
class AuditFilters:
    actor: str | None = None
    """The actor's login (or 'system'), exactly."""
    actions: list[str] | None = None
    target_type: str | None = None
    target_id: str | None = None
    event_time_gte: datetime | None = None
    event_time_lt: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses, args = ["TRUE"], []
        for sql, value in (
            ("actor_login = {}", self.actor),
            ("action = ANY({}::text[])", self.actions),
            ("target_type = {}", self.target_type),
            ("target_id = {}", self.target_id),
            ("event_time >= {}", self.event_time_gte),
            ("event_time < {}", self.event_time_lt),
        ):
            if value is not None:
                args.append(value)
                clauses.append(sql.format(f"${len(args)}"))
        return " AND ".join(clauses), args


def event_json(row: Any) -> dict[str, Any]:
    details = row["details"]
    return {
        "event_id": row["event_id"],
        "event_time": row["event_time"],
        "actor_id": row["actor_id"],
        "actor_login": row["actor_login"],
        "action": row["action"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "details": json.loads(details) if isinstance(details, str) else details,
        "ip": row["ip"],
        "user_agent": row["user_agent"],
        "request_id": row["request_id"],
    }


async def list_events(filters: AuditFilters, page: Page) -> list[dict[str, Any]]:
    """A page of events, newest first."""
    where, args = filters.where()
    rows = await db.fetch_page(
        f"SELECT {COLUMNS} FROM audit_event WHERE {where} "
        "ORDER BY audit_event.event_time DESC, event_id DESC",
        args,
        page,
    )
    return [event_json(row) for row in rows]


async def count_events(filters: AuditFilters) -> int:
    where, args = filters.where()
    return await db.count(f"FROM audit_event WHERE {where}", args)


async def recent_actors(window: int = 1000) -> list[str]:
    """The actors of the newest `window` events, for the page's suggestions.

    Bounded on purpose: distinct actors over the whole log would scan all of it.
    """
    rows = await db.fetch(
        "SELECT DISTINCT actor_login FROM (SELECT actor_login FROM audit_event "
        "ORDER BY event_time DESC, event_id DESC LIMIT $1) recent "
        "WHERE actor_login IS NOT NULL ORDER BY actor_login",
        window,
    )
    return [row["actor_login"] for row in rows]


async def purge_expired(retention_days: int) -> int:
    """Delete events older than `retention_days` (0 keeps everything); how many went.

    One batch per call: housekeeping calls it every few seconds, so a backlog
    drains without one long transaction holding the table.
    """
    if retention_days <= 0:
        return 0
    rows = await db.fetch(
        "DELETE FROM audit_event WHERE event_id IN (SELECT event_id FROM audit_event "
        "WHERE event_time < now() - make_interval(days => $1) LIMIT $2) RETURNING 1",
        retention_days,
        PURGE_BATCH,
    )
    if rows:
        log.info("deleted %d audit event(s) older than %d days", len(rows), retention_days)
    return len(rows)
