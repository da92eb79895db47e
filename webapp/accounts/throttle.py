"""Login throttling with counters in PostgreSQL, shared by every process.

Failures are counted per login and per client address within a window of
LOGIN_FAILURE_WINDOW seconds. A login is locked after LOGIN_MAX_FAILURES
failures, an address after four times as many (one office behind one address
should not lock itself out through one mistyped password). A lock lasts one
window. Unknown logins are counted too, so a lock says nothing about whether a
login exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from webapp import db

ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    window_seconds: int


def keys_for(login: str, ip: str) -> tuple[str, str]:
    return f"login:{login.lower()[:180]}", f"ip:{ip[:64]}"


async def retry_after(login: str, ip: str) -> int | None:
    """Seconds until a lock on this login or address ends; None when not locked."""
    row = await db.fetchrow(
        "SELECT extract(epoch FROM max(locked_until) - now()) AS wait FROM login_throttle "
        "WHERE key = ANY($1::varchar[]) AND locked_until > now()",
        list(keys_for(login, ip)),
    )
    if row is None or row["wait"] is None:
        return None
    return max(1, math.ceil(float(row["wait"])))


async def record_failure(login: str, ip: str, policy: ThrottlePolicy) -> None:
    login_key, ip_key = keys_for(login, ip)
    window = timedelta(seconds=policy.window_seconds)
    for key, limit in (
        (login_key, policy.max_failures),
        (ip_key, policy.max_failures * ADDRESS_FACTOR),
    ):
        await db.fetch(
            """
            INSERT INTO login_throttle AS t (key, failures, window_start, locked_until)
            VALUES ($1, 1, now(), CASE WHEN $2 <= 1 THEN now() + $3::interval END)
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN t.window_start < now() - $3::interval THEN 1
                                ELSE t.failures + 1 END,
                window_start = CASE WHEN t.window_start < now() - $3::interval THEN now()
                                    ELSE t.window_start END,
                locked_until = CASE
                    WHEN (CASE WHEN t.window_start < now() - $3::interval THEN 1
                               ELSE t.failures + 1 END) >= $2 THEN now() + $3::interval
                    ELSE t.locked_until END
            """,
            key,
            limit,
            window,
        )


async def clear_login(login: str) -> None:
    """After a successful sign-in the login's count starts again (the address's stays)."""
    login_key, _ = keys_for(login, "")
    await db.fetch("DELETE FROM login_throttle WHERE key = $1", login_key)
