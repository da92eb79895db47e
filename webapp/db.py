"""The database engine: the connection pool and migrations.

Piccolo's engine (piccolo_conf.DB) is the only way the service talks to
PostgreSQL; this module starts and stops its pool and applies migrations.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine

log = logging.getLogger(__name__)

# Held while migrating, so that servers and workers starting together apply
# each migration once. The number is arbitrary but fixed.
MIGRATION_LOCK = 5_010_001


def engine() -> PostgresEngine:
    from piccolo_conf import DB

    return DB


async def start_pool(max_size: int = 10) -> None:
    await engine().start_connection_pool(min_size=1, max_size=max_size)


async def close_pool() -> None:
    await engine().close_connection_pool()


@contextlib.asynccontextmanager
async def connection() -> Any:
    """A connection from the pool (or a new one when there is no pool)."""
    db = engine()
    if db.pool is not None:
        async with db.pool.acquire() as conn:
            yield conn
    else:
        conn = await db.get_new_connection()
        try:
            yield conn
        finally:
            await conn.close()


UNREACHABLE = (
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up, shutting down
    asyncpg.exceptions.AdminShutdownError,  # 57P01
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
    asyncpg.exceptions.ConnectionDoesNotExistError,  # the connection was lost mid-query
)


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (rather than a bug or a bad
    query): PostgreSQL's own refusals above, or a network failure (refused, reset,
    timed out, no such socket or host) raised while asyncpg was connecting or talking."""
    if isinstance(exc, UNREACHABLE):
        return True
    if isinstance(exc, OSError | TimeoutError):
        traceback = exc.__traceback__
        while traceback is not None:
            if traceback.tb_frame.f_globals.get("__name__", "").startswith("asyncpg"):
                return True
            traceback = traceback.tb_next
    return False


def iso_sql(column: str, alias: str) -> str:
    """A timestamptz column as our answer format (UTC, milliseconds, Z), made by PostgreSQL.

    Formatting hundreds of times per page in Python costs more than the query.
    """
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS {alias}"


async def fetch(sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run a query on the engine (inside the current Piccolo transaction if any)."""
    db = engine()
    current = db.current_transaction.get()
    if current is not None:
        return await current.connection.fetch(sql, *args)
    async with connection() as conn:
        return await conn.fetch(sql, *args)


async def fetchrow(sql: str, *args: Any) -> asyncpg.Record | None:
    rows = await fetch(sql, *args)
    return rows[0] if rows else None


async def fetch_page(sql: str, args: list[Any], page: Any) -> list[asyncpg.Record]:
    """`sql` (ending in ORDER BY, with `args` numbered from $1) limited to one page."""
    n = len(args)
    return await fetch(f"{sql} LIMIT ${n + 1} OFFSET ${n + 2}", *args, page.page_size, page.offset)


async def count(from_where: str, args: list[Any]) -> int:
    """`SELECT count(*) <from_where>`."""
    row = await fetchrow(f"SELECT count(*) AS n {from_where}", *args)
    return int(row["n"]) if row else 0


def sql_migration(migration_id: str, description: str, sql: str) -> Any:
    """The `forwards` of a migration written as SQL (see piccolo_migrations/)."""
    from piccolo.apps.migrations.auto.migration_manager import MigrationManager

    async def forwards() -> MigrationManager:
        manager = MigrationManager(
            migration_id=migration_id, app_name="luna_admin", description=description
        )

        async def run() -> None:
            transaction = engine().current_transaction.get()
            assert transaction is not None
            # execute() without arguments uses the simple protocol: many statements at once.
            await transaction.connection.execute(sql)

        manager.add_raw(run)
        return manager

    return forwards


async def migrate() -> list[str]:
    """Apply pending migrations; return the names of those applied."""
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    db = engine()
    conn = await db.get_new_connection()
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await Migration.create_table(if_not_exists=True).run()
        before = {row["name"] for row in await Migration.select(Migration.name).run()}
        # Piccolo prints its progress; keep our output to the log.
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            result = await run_forwards(app_name="all")
        if not result.success:
            raise RuntimeError(f"migration failed: {result.message}\n{printed.getvalue()}")
        after = {row["name"] for row in await Migration.select(Migration.name).run()}
        applied = sorted(after - before)
        for name in applied:
            log.info("applied migration %s", name)
        return applied
    finally:
        with contextlib.suppress(Exception):
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await conn.close()
