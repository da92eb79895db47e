"""Throw-away databases beside the test database, for tests that run a real
server on a database of its own (the browser tests, the schemathesis run)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg


def sibling_database(source_url: str, suffix: str) -> tuple[str, str, str]:
    """(URL of <source database><suffix>, its name, URL of the `postgres`
    maintenance database on the same server)."""
    parts = urlsplit(source_url)
    name = parts.path.lstrip("/") or "luna_admin"
    if not name.endswith(suffix):
        name += suffix
    return (
        urlunsplit(parts._replace(path=f"/{name}")),
        name,
        urlunsplit(parts._replace(path="/postgres")),
    )


async def fresh_database(url: str, name: str, maintenance_url: str) -> None:
    """The database `name`, created if missing, with an empty public schema."""
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(maintenance_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            pass  # another run created it in the meantime
        finally:
            await admin.close()
        conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
