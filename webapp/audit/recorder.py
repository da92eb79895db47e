"""`record`: one audit event, written on the connection of the change itself.

Writing on the change's own transaction is what makes the log trustworthy: a
change that rolls back leaves no event, a change that commits always has one.
`record` refuses to run outside a transaction rather than write an event that
could outlive (or miss) its change.
"""

from __future__ import annotations

from typing import Any

from webapp import db
from webapp.audit.context import ANONYMOUS, SYSTEM, Actor, current
from webapp.audit.redact import details_json
from webapp.audit.vocabulary import ACTIONS, TARGET_TYPES
from webapp.logs import REQUEST_ID

INSERT = (
    "INSERT INTO audit_event (actor_id, actor_login, action, target_type, target_id, details,"
    " ip, user_agent, request_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::inet, $8, $9)"
)


def actor_now(explicit: Actor | None = None) -> Actor:
    """Who the event is by: the one named, else the signed-in caller, else nobody
    known (a request) or the system (no request)."""
    if explicit is not None:
        return explicit
    context = current()
    if context is None:
        return SYSTEM
    return context.actor or ANONYMOUS


async def record(
    conn: Any,
    action: str,
    target_type: str,
    target_id: Any,
    details: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
) -> None:
    """Record `action` on `target_type`/`target_id` inside the caller's transaction.

    `conn` is the asyncpg connection of that transaction, or None inside a
    Piccolo transaction (`db.engine().transaction()`). `details` says what
    changed; secrets in it are masked (webapp/audit/redact.py).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r} (see webapp/audit/vocabulary.py)")
    if target_type not in TARGET_TYPES:
        raise ValueError(f"unknown audit target type {target_type!r}")
    if conn is None:
        transaction = db.engine().current_transaction.get()
        if transaction is None:
            raise RuntimeError(f"audit {action}: no transaction to record it in")
        conn = transaction.connection
    elif not conn.is_in_transaction():
        raise RuntimeError(f"audit {action}: the connection is not in a transaction")
    who = actor_now(actor)
    context = current()
    request_id = REQUEST_ID.get()
    await conn.execute(
        INSERT,
        who.account_id,
        who.login,
        action,
        target_type,
        None if target_id is None else str(target_id),
        details_json(details),
        context.ip if context else None,
        context.user_agent if context else None,
        None if request_id == "-" else request_id,
    )
