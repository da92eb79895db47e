"""Task errors, grouped: at most one row per subtask and error code.

A failure repeated a million times is one row whose `additional_info` keeps the
count and the first ids (JSON text: `{"count": n, "first_ids": [...]}`), and
whose `detail` tells the first failure and how many more there were. Rows are
written in the batch's transaction, which holds the subtask's row lock, so two
writers never merge into one row at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from webapp.tasks.work import Failure
from webapp.web.errors import BY_NAME

FIRST_IDS = 10
"""Ids kept per row; the count goes on past them."""

DETAIL_LIMIT = 2000


def _detail(first: str, count: int) -> str:
    more = count - 1
    if more <= 0:
        return first[:DETAIL_LIMIT]
    suffix = f" (and {more:,} more in this subtask; additional_info lists the first ids)"
    return first[: DETAIL_LIMIT - len(suffix)] + suffix


async def record(conn: Any, subtask_id: int, failures: Iterable[Failure]) -> None:
    """Add `failures` to the subtask's error rows, one per error kind."""
    groups: dict[str, list[Failure]] = {}
    for failure in failures:
        groups.setdefault(failure.kind, []).append(failure)
    for name, group in groups.items():
        kind = BY_NAME[name]
        row = await conn.fetchrow(
            "SELECT detail, additional_info FROM task_error "
            "WHERE subtask_id = $1 AND error_code = $2",
            subtask_id,
            kind.code,
        )
        before, first_ids = _info(row["additional_info"]) if row else (0, [])
        first = row["detail"] if row else kind.detail.format(**group[0].params)
        if row and before > 1:
            first = first.rsplit(" (and ", 1)[0]
        ids = [*first_ids, *(f.object_id for f in group if f.object_id)]
        count = before + len(group)
        merged = {"count": count, "first_ids": ids[:FIRST_IDS]}
        await conn.execute(
            "INSERT INTO task_error (task_id, subtask_id, error_code, description, detail, "
            "additional_info) SELECT task_id, $1, $2, $3, $4, $5 FROM subtask "
            "WHERE subtask_id = $1 "
            "ON CONFLICT (subtask_id, error_code) WHERE subtask_id IS NOT NULL DO UPDATE "
            "SET detail = EXCLUDED.detail, additional_info = EXCLUDED.additional_info, "
            "error_time = now()",
            subtask_id,
            kind.code,
            kind.desc,
            _detail(first, count),
            json.dumps(merged),
        )


def _info(text: str | None) -> tuple[int, list[str]]:
    """A row's count and first ids (a row written before grouping counts as one)."""
    try:
        info = json.loads(text or "")
    except ValueError:
        info = None
    if not isinstance(info, dict) or not isinstance(info.get("count"), int):
        return 1, []
    ids = info.get("first_ids")
    return info["count"], [str(i) for i in ids] if isinstance(ids, list) else []


async def record_one(
    conn: Any, task_id: int, subtask_id: int | None, name: str, **params: Any
) -> None:
    """One error of the subtask (its failure, the task's failure limit), grouped the same way."""
    if subtask_id is None:
        kind = BY_NAME[name]
        await conn.execute(
            "INSERT INTO task_error (task_id, error_code, description, detail) "
            "VALUES ($1, $2, $3, $4)",
            task_id,
            kind.code,
            kind.desc,
            kind.detail.format(**params)[:DETAIL_LIMIT],
        )
        return
    await record(conn, subtask_id, [Failure(name, "", params)])
