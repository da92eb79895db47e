"""`luna-admin check`: the settings an operator should not run with."""

from __future__ import annotations

from webapp import db
from webapp.accounts.passwords import verify_password
from webapp.accounts.service import DEFAULT_ADMIN_LOGIN, DEFAULT_ADMIN_PASSWORD
from webapp.settings import Settings


async def default_password_still_valid() -> bool:
    await db.start_pool(1)
    try:
        row = await db.fetchrow(
            "SELECT password_hash FROM account WHERE login = $1 AND remove_time IS NULL",
            DEFAULT_ADMIN_LOGIN,
        )
    finally:
        await db.close_pool()
    return row is not None and await verify_password(DEFAULT_ADMIN_PASSWORD, row["password_hash"])


async def run_checks(settings: Settings) -> list[str]:
    warnings = []
    if not settings.secret_key_from_env:
        warnings.append(
            "SECRET_KEY is not set: a key generated into var/secret_key is used; every process "
            "of a deployment must share one key, so set SECRET_KEY explicitly"
        )
    if settings.production and not settings.cookie_secure:
        warnings.append(
            "LUNA_ADMIN_ENV=production but COOKIE_SECURE is off: "
            "the session cookie would travel over plain HTTP"
        )
    try:
        if await default_password_still_valid():
            warnings.append(
                f"the default admin {DEFAULT_ADMIN_LOGIN} still has the password "
                f"'{DEFAULT_ADMIN_PASSWORD}': change it on /password"
            )
    except OSError as error:
        warnings.append(f"could not reach the database to check the default password: {error}")
    return warnings
