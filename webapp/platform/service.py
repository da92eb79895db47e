"""Lists (and, through the counters, faces and attributes) as the Admin reports them."""

from __future__ import annotations

import uuid
from typing import Any

from webapp import db
from webapp.web.errors import LunaError
from webapp.web.params import Page


def live_owner(column: str = "account_id") -> str:
    """SQL: the row's account is not being removed (see webapp/tasks/account_removal.py).

    The rows of an account whose removal has started stay until the workers
    reach them; every read of platform data leaves them out with this. The
    subquery reads a partial index of the few accounts being removed.
    """
    return (
        f"{column} NOT IN (SELECT removed.account_id FROM account removed "
        "WHERE removed.remove_time IS NOT NULL)"
    )


# Ids and times as text, made by PostgreSQL; order by `list.<column>` (see accounts).
_LIST_COLUMNS = (
    "list.list_id::text AS list_id, list.account_id::text AS account_id, list.user_data, "
    f"{db.iso_sql('list.create_time', 'create_time')}, "
    f"{db.iso_sql('list.last_update_time', 'last_update_time')}, list.face_count"
)


def list_json(row: Any) -> dict[str, Any]:
    return {
        "list_id": row["list_id"],
        "account_id": row["account_id"],
        "user_data": row["user_data"],
        "create_time": row["create_time"],
        "last_update_time": row["last_update_time"],
        "face_count": int(row["face_count"]),
    }


async def list_lists(
    page: Page, account_id: uuid.UUID | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A page of lists (of one account, or all), newest first, and how many match."""
    order = "ORDER BY list.create_time DESC, list.list_id DESC"
    live = live_owner("list.account_id")
    if account_id is None:
        rows = await db.fetch_page(
            f"SELECT {_LIST_COLUMNS} FROM list WHERE {live} {order}", [], page
        )
        total = await db.count(f"FROM list WHERE {live}", [])
    else:
        rows = await db.fetch_page(
            f"SELECT {_LIST_COLUMNS} FROM list WHERE account_id = $1 AND {live} {order}",
            [account_id],
            page,
        )
        # The account's list_count is kept by a trigger: no count(*) needed.
        count = await db.fetchrow(
            "SELECT s.list_count AS n FROM account_stats s JOIN account a "
            "ON a.account_id = s.account_id WHERE s.account_id = $1 AND a.remove_time IS NULL",
            account_id,
        )
        total = int(count["n"]) if count else 0
    return [list_json(row) for row in rows], total


async def get_list(list_id: uuid.UUID) -> dict[str, Any]:
    found = await find_list(list_id)
    if found is None:
        raise LunaError("LIST_NOT_FOUND", list_id=list_id)
    return found


async def find_list(list_id: uuid.UUID) -> dict[str, Any] | None:
    row = await db.fetchrow(
        f"SELECT {_LIST_COLUMNS} FROM list WHERE list_id = $1 AND {live_owner('list.account_id')}",
        list_id,
    )
    return None if row is None else list_json(row)
