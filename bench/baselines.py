"""Bare Litestar apps the service is measured against.

Each is the least a handler for the same route can do, so the ratio
service / baseline shows what the service's own layers cost (or save):

    python -m uvicorn bench.baselines:version_app --port 8001
    DATABASE_URL=postgresql://... python -m uvicorn bench.baselines:accounts_app --port 8002

No auth, no middleware, no request id, no logging per request.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
from litestar import Litestar, get
from litestar.datastructures import State

# The same shape as the service's answer, built once: a constant costs nothing.
VERSION = {"Version": {"api": 4, "major": 0, "minor": 1, "patch": 0}}

# The obvious way to write the accounts page: the page, then count(*) over
# every account (the service reads a trigger-maintained counter instead).
PAGE_SQL = (
    "SELECT account_id, login, account_type, description, create_time, last_update_time "
    "FROM account ORDER BY create_time DESC LIMIT $1"
)
COUNT_SQL = "SELECT count(*) FROM account"

# The service's default DB_POOL_SIZE, so both sides have as many connections.
POOL_SIZE = 10


@get("/version")
async def version() -> dict[str, Any]:
    return VERSION


@get("/4/accounts")
async def accounts(state: State, page_size: int = 10) -> dict[str, Any]:
    async with state.pool.acquire() as conn:
        rows = await conn.fetch(PAGE_SQL, page_size)
        count = await conn.fetchval(COUNT_SQL)
    return {"accounts": [dict(row) for row in rows], "account_count": count}


async def _open_pool(app: Litestar) -> None:
    app.state.pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=1, max_size=POOL_SIZE
    )


async def _close_pool(app: Litestar) -> None:
    await app.state.pool.close()


version_app = Litestar(route_handlers=[version])

accounts_app = Litestar(
    route_handlers=[accounts], on_startup=[_open_pool], on_shutdown=[_close_pool]
)
