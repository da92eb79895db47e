"""Sign-in sessions stored in PostgreSQL.

The cookie carries a random token; the table keeps only its SHA-256, so the
table alone cannot be replayed. A session ends at its absolute lifetime
(SESSION_LIFETIME, `expire_time`) or after SESSION_IDLE_TIMEOUT seconds without
a request (`last_seen_time`), whichever comes first.

Refreshing `last_seen_time` on every request would turn every page view and
API call into a write. It is refreshed only when it is older than
`touch_interval(idle)` (a minute for the default half hour), so a session may
end up to that much early, never late.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from webapp import db

COOKIE_NAME = "luna_admin_session"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(account_id: uuid.UUID, lifetime_seconds: int, ip: str, user_agent: str) -> str:
    token = secrets.token_urlsafe(32)
    await db.fetch(
        "INSERT INTO auth_session (token_hash, account_id, expire_time, ip, user_agent) "
        "VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5)",
        token_hash(token),
        account_id,
        lifetime_seconds,
        ip[:64],
        user_agent[:256],
    )
    # Housekeeping on sign-in, which is rare: expired sessions are useless.
    await db.fetch("DELETE FROM auth_session WHERE expire_time < now()")
    return token


def touch_interval(idle_seconds: int) -> int:
    """How stale `last_seen_time` may get before a request refreshes it."""
    return max(1, min(60, idle_seconds // 10))


async def account_for(token: str, idle_seconds: int = 0, *, touch: bool = True) -> Any:
    """The account row of a live session, or None; `idle_seconds` 0: no idle timeout.

    `touch`: whether this request counts as activity (a page polling for progress
    does not, or an open tab would keep its session alive forever)."""
    digest = token_hash(token)
    row = await db.fetchrow(
        "SELECT a.account_id, a.login, a.account_type, a.password_hash, "
        "s.last_seen_time < now() - make_interval(secs => $3) AS stale "
        "FROM auth_session s JOIN account a ON a.account_id = s.account_id "
        "WHERE s.token_hash = $1 AND s.expire_time > now() AND a.remove_time IS NULL "
        "AND ($2 = 0 OR s.last_seen_time > now() - make_interval(secs => $2))",
        digest,
        idle_seconds,
        touch_interval(idle_seconds),
    )
    if row is not None and row["stale"] and touch:
        await db.fetch(
            "UPDATE auth_session SET last_seen_time = now() WHERE token_hash = $1", digest
        )
    return row


async def end(token: str) -> uuid.UUID | None:
    """End one session; the account it belonged to, or None when there was none."""
    row = await db.fetchrow(
        "DELETE FROM auth_session WHERE token_hash = $1 RETURNING account_id", token_hash(token)
    )
    return None if row is None else row["account_id"]


async def end_all(account_id: uuid.UUID) -> int:
    rows = await db.fetch("DELETE FROM auth_session WHERE account_id = $1 RETURNING 1", account_id)
    return len(rows)
