"""Who is asking: Basic credentials or a session token, turned into an account.

Throttling, the credential cache and the equal answer for every failure live
here; the HTTP guard in webapp/web/auth.py only extracts what was sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from webapp import audit, db
from webapp.accounts import sessions, throttle
from webapp.accounts.passwords import CredentialCache, burn_verification, verify_password
from webapp.settings import Settings
from webapp.system.metrics import LOGIN_FAILURES
from webapp.web.errors import LunaError


@dataclass(frozen=True)
class Principal:
    account_id: uuid.UUID
    login: str
    account_type: str
    via: str
    """'basic' or 'cookie'."""
    session_token: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.account_type == "admin"


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = CredentialCache(settings.secret_key, settings.credential_cache_ttl)
        self.policy = throttle.ThrottlePolicy(
            settings.login_max_failures, settings.login_failure_window, settings.login_max_delay
        )

    async def check_password(self, login: str, password: str, ip: str) -> Principal:
        """The account these credentials belong to, or 401 (429 while locked)."""
        row = await db.fetchrow(
            "SELECT account_id, login, account_type, password_hash FROM account "
            "WHERE login = $1 AND remove_time IS NULL",
            login,
        )
        key = None
        if row is not None:
            key = self.cache.key(row["account_id"], row["password_hash"], password)
            if self.cache.hit(key):
                return _principal(row, "basic")
        keys = throttle.keys_for(login, ip)
        wait = await throttle.admit(keys, self.policy)
        if wait is not None:  # refused before any verification: a throttled guess costs no argon2
            raise LunaError("LOGIN_THROTTLED", headers={"Retry-After": str(wait)}, retry_after=wait)
        if row is None:
            await burn_verification(password)
            verified = False
        else:
            verified = await verify_password(password, row["password_hash"])
        if not verified:
            async with db.engine().transaction():
                await throttle.record_failure(keys, self.policy)
                # The login typed is named only when it is an account's: an unknown
                # "login" is too often a password typed into the wrong field.
                await audit.record(
                    None,
                    "session.sign_in_failed",
                    "account",
                    row["account_id"] if row is not None else None,
                    {"login_known": row is not None},
                    actor=audit.ANONYMOUS,
                )
            LOGIN_FAILURES.inc()  # GET /metrics: login_failures_total
            raise LunaError("WRONG_CREDENTIALS")
        assert key is not None and row is not None
        self.cache.remember(key, row["account_id"])
        await throttle.clear_pair(keys)
        return _principal(row, "basic")

    async def check_session(self, token: str, *, touch: bool = True) -> Principal:
        """The principal of a live session; `touch`: the request counts as activity."""
        row = await sessions.account_for(token, self.settings.session_idle_timeout, touch=touch)
        if row is None:
            raise LunaError("SESSION_INVALID")
        return _principal(row, "cookie", token)

    async def start_session(self, principal: Principal, ip: str, user_agent: str) -> str:
        return await sessions.create(
            principal.account_id, self.settings.session_lifetime, ip, user_agent
        )


def _principal(row: Any, via: str, token: str | None = None) -> Principal:
    return Principal(
        account_id=row["account_id"],
        login=row["login"],
        account_type=row["account_type"],
        via=via,
        session_token=token,
    )
