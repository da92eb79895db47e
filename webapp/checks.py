"""What an operator should not run with: `luna-admin check` warns about it, and
`luna-admin serve` refuses to start in production (LUNA_ADMIN_ENV=production)
without SECRET_KEY, without an admin account, or while the default admin still
has its well-known password."""

from __future__ import annotations

from webapp import db
from webapp.accounts.default_password import DefaultPasswordCheck
from webapp.accounts.service import DEFAULT_ADMIN_LOGIN, DEFAULT_ADMIN_PASSWORD
from webapp.settings import Settings

NO_SECRET_KEY = (
    "SECRET_KEY is not set: a key generated into var/secret_key is used; every process "
    "of a deployment must share one key, so set SECRET_KEY explicitly"
)
DEFAULT_PASSWORD = (
    f"the default admin {DEFAULT_ADMIN_LOGIN} still has the password "
    f"'{DEFAULT_ADMIN_PASSWORD}': change it on /password, or with "
    f"`luna-admin set-password {DEFAULT_ADMIN_LOGIN}`"
)
NO_ADMIN = "there is no admin account: create one with `luna-admin create-admin LOGIN`"


async def default_password_still_valid() -> bool:
    """Needs the pool (db.start_pool)."""
    return await DefaultPasswordCheck().account() is not None


async def run_checks(settings: Settings) -> list[str]:
    warnings = []
    if not settings.secret_key_from_env:
        warnings.append(NO_SECRET_KEY)
    if settings.production and not settings.cookie_secure:
        warnings.append(
            "LUNA_ADMIN_ENV=production but COOKIE_SECURE is off: "
            "the session cookie would travel over plain HTTP"
        )
    try:
        await db.start_pool(1)
        try:
            if await default_password_still_valid():
                warnings.append(DEFAULT_PASSWORD)
        finally:
            await db.close_pool()
    except OSError as error:
        warnings.append(f"could not reach the database to check the default password: {error}")
    return warnings


def refusal_before_start(settings: Settings) -> list[str]:
    """Why `serve` must not start, from the settings alone (empty: it may)."""
    return [NO_SECRET_KEY] if settings.production and not settings.secret_key_from_env else []


async def refusal_after_migrations(settings: Settings) -> list[str]:
    """Why `serve` must not start, from the database (needs the pool; empty: it may)."""
    if not settings.production:
        return []
    if not await db.fetchrow(
        "SELECT 1 FROM account WHERE account_type = 'admin' AND remove_time IS NULL LIMIT 1"
    ):
        return [NO_ADMIN]
    return [DEFAULT_PASSWORD] if await default_password_still_valid() else []
