"""Removing an account in the background: a GC task (type 4) with the target
`account`, which only `DELETE /{api}/accounts/{id}` creates (the GC route's
schema does not offer it).

The request marks the account (`account.remove_time`), ends its sessions and
creates this task in one short transaction (webapp/accounts/service.py): from
its commit on, the account and what it owns are gone from every route. The
workers then delete its rows in bounded batches, table after table, so that no
cascade or `SET NULL` updates a row that is about to go anyway:

    samples, events, face attributes, faces (their descriptors and list
    memberships go with them by cascade), lists; then the account row

Each batch is one transaction with its subtask's progress, as in every GC: a
process killed at any point loses nothing, and the next worker resumes at the
cursor. When every subtask has ended, `collect` deletes the account row in the
transaction that finishes the task; its cascade takes what was added in the
meantime (a face another service wrote after the batches passed). That commit
is the end of the removal, recorded as `account.delete_finished`. A removal
that did not end so (a failed subtask, a task deleted by hand) is started
again by the housekeeping of any process
(webapp/tasks/service.py, `resume_account_removals`).
"""

from __future__ import annotations

import itertools
import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any

from webapp import audit
from webapp.tasks.gc import GcWork
from webapp.tasks.states import Status, TaskType
from webapp.tasks.work import (
    MAX_UUID_SUBTASKS,
    Applied,
    Counts,
    Filters,
    ResultPart,
    Work,
    uuid_ranges,
)

log = logging.getLogger(__name__)

TARGET = "account"


@dataclass(frozen=True)
class Phase:
    table: str
    id_column: str
    counter: str | None = None
    """The account_stats column that tells how many rows there are (to plan subtasks)."""


PHASES = (
    Phase("sample", "sample_id"),
    Phase("event", "event_id"),
    Phase("face_attribute", "attribute_id", "face_attribute_count"),
    Phase("face", "face_id", "face_count"),
    Phase("list", "list_id", "list_count"),
)
"""In this order: the rows that point at faces (and samples at events) go before
what they point at, so no `SET NULL` rewrites them first."""


def removal_content(account_id: uuid.UUID, login: str) -> dict[str, Any]:
    """The content of the removal task of an account."""
    return {"target": TARGET, "filters": {"account_id": str(account_id)}, "login": login}


def is_removal(task_type: int, content: dict[str, Any]) -> bool:
    return task_type == TaskType.GC and content.get("target") == TARGET


DENSE_SHARE = 0.25
"""An account owning at least this share of a table's rows is removed from it in
the table's physical order (block ranges) rather than in id order (see plan)."""

BLOCKS = "pg_relation_size($1::regclass) / current_setting('block_size')::int"
"""The blocks of the table named by $1."""


class AccountRows(GcWork):
    """One table's rows of the account: GC batches, each an interval of ids
    (`id_gte`/`id_lt` subtasks) or of heap blocks (`block_gte`/`block_lt`)."""

    def __init__(self, content: dict[str, Any], batch_size: int, phase: Phase) -> None:
        super().__init__(content, batch_size, 0)
        self.table, self.id_column = phase.table, phase.id_column

    @property
    def stores_ids(self) -> bool:
        return False

    def where(self) -> Filters:
        account_id = self.filters["account_id"]
        where = Filters()
        where.add("account_id = {}::uuid", account_id)
        # Never a live account's rows, even if this task outlived its removal.
        where.add(
            "EXISTS (SELECT 1 FROM account removed WHERE removed.account_id = {}::uuid "
            "AND removed.remove_time IS NOT NULL)",
            account_id,
        )
        return where

    async def fetch(self, conn: Any, subtask: dict[str, Any], cursor: Any) -> Any | None:
        if "block_gte" not in subtask:
            return await super().fetch(conn, subtask, cursor)
        start = subtask["block_gte"] if cursor is None else int(cursor)
        end = subtask.get("block_lt")
        if end is None:  # the last range: up to the table's end now (it may have grown)
            end = int(await conn.fetchval(f"SELECT {BLOCKS}", self.table))
        if start >= end:
            return None
        return {"subtask": subtask, "blocks": (start, min(start + subtask["blocks"], end))}

    async def apply(self, conn: Any, batch: Any, computed: Any, part: ResultPart) -> Applied:
        if "blocks" not in batch:
            return await super().apply(conn, batch, computed, part)
        first, last = batch["blocks"]
        where = self.where()
        # A TID range scan: the batch reads only its blocks.
        where.add("ctid >= {}::text::tid", f"({first},0)")
        where.add("ctid < {}::text::tid", f"({last},0)")
        status = await conn.execute(f"DELETE FROM {self.table} WHERE {where.sql()}", *where.args)
        return Applied(cursor=last, handled=int(status.split()[-1]))


def block_ranges(
    estimated: int, blocks: int, batch_size: int, subtask_size: int
) -> list[dict[str, Any]]:
    """[0, blocks) split into as many ranges as `estimated` rows need subtasks (the
    last one open: rows written at the end meanwhile go too), with the blocks per
    batch that hold about `batch_size` of those rows."""
    parts = max(1, min(MAX_UUID_SUBTASKS, math.ceil(estimated / max(subtask_size, 1))))
    per_batch = max(1, batch_size * blocks // max(estimated, 1))
    bounds = [blocks * i // parts for i in range(parts + 1)]
    return [
        {"block_gte": low, "block_lt": high if i < parts - 1 else None, "blocks": per_batch}
        for i, (low, high) in enumerate(itertools.pairwise(bounds))
    ]


class AccountRemoval(Work):
    def __init__(self, content: dict[str, Any], batch_size: int, subtask_size: int) -> None:
        super().__init__(content, batch_size, subtask_size)
        self.tables = {phase.table: AccountRows(content, batch_size, phase) for phase in PHASES}

    @property
    def account_id(self) -> uuid.UUID:
        return uuid.UUID(self.content["filters"]["account_id"])

    @property
    def stores_ids(self) -> bool:
        return False

    @property
    def all_or_nothing(self) -> bool:
        """A removal that left rows behind did not remove the account: it failed
        (and is started again, webapp/tasks/service.py)."""
        return True

    async def plan(self, conn: Any) -> list[dict[str, Any]]:
        """Subtasks in the order of PHASES; faces and attributes split by the
        account's counters (read, not counted: the request must answer at once)."""
        stats = await conn.fetchrow(
            "SELECT * FROM account_stats WHERE account_id = $1", self.account_id
        )
        parts, counted = [], 0
        for phase in PHASES:
            estimated = int(stats[phase.counter]) if stats and phase.counter else 0
            counted += estimated
            for id_range in await self._ranges(conn, phase, estimated):
                parts.append({"table": phase.table, **id_range})
        # What the progress counts against: the counted tables (events and samples
        # have no counter, and counting them here would hold up the request).
        self.planned = counted
        return parts

    async def _ranges(self, conn: Any, phase: Phase, estimated: int) -> list[dict[str, Any]]:
        """By id, or, when the account owns a large share of the table, by heap
        block: then each batch deletes rows that lie together, and their cascades
        follow (a face's descriptors were written with it). In id order (random
        uuids) every batch would touch pages all over the table, and every page
        would be written to the WAL in full again after each checkpoint: seven
        times the WAL of one DELETE, measured on a million faces."""
        if estimated:
            table = await conn.fetchrow(
                f"SELECT reltuples, {BLOCKS} AS blocks FROM pg_class WHERE oid = $1::regclass",
                phase.table,
            )
            if table["reltuples"] > 0 and estimated >= DENSE_SHARE * table["reltuples"]:
                return block_ranges(
                    estimated, int(table["blocks"]), self.batch_size, self.subtask_size
                )
        return uuid_ranges(estimated, self.subtask_size)

    async def fetch(self, conn: Any, subtask: dict[str, Any], cursor: Any) -> Any | None:
        return await self.tables[subtask["table"]].fetch(conn, subtask, cursor)

    async def apply(self, conn: Any, batch: Any, computed: Any, part: ResultPart) -> Applied:
        return await self.tables[batch["subtask"]["table"]].apply(conn, batch, computed, part)

    def summary(self, counts: Counts) -> tuple[dict[str, Any], str | None]:
        result = {
            "target": TARGET,
            "account_id": str(self.account_id),
            "login": self.content.get("login"),
            "removed_count": counts.handled,
        }
        return result, None

    async def collect(self, conn: Any, task_id: int) -> dict[str, Any]:
        """Delete the account row when every part is done; the rows removed per
        table (`removed_faces`, ...: scalars, which the task page shows)."""
        rows = await conn.fetch(
            "SELECT content->>'table' AS name, "
            "coalesce(sum((progress->>'handled')::bigint), 0) AS removed, "
            "count(*) FILTER (WHERE subtask_status <> $2) AS unfinished "
            "FROM subtask WHERE task_id = $1 GROUP BY 1",
            task_id,
            int(Status.DONE),
        )
        removed = {f"removed_{row['name']}s": int(row["removed"]) for row in rows}
        if any(row["unfinished"] for row in rows):
            log.warning(
                "account %s: removal task %s ended with parts not done; it will be resumed",
                self.account_id,
                task_id,
            )
            return {**removed, "account_removed": False}
        deleted = await conn.fetchrow(
            "DELETE FROM account WHERE account_id = $1 AND remove_time IS NOT NULL "
            "RETURNING login, remove_time",
            self.account_id,
        )
        if deleted is not None:
            details = {"login": deleted["login"], "task_id": task_id, **removed}
            await audit.record(conn, "account.delete_finished", "account", self.account_id, details)
            log.info("account %s (%s): every row removed", self.account_id, deleted["login"])
        return {**removed, "account_removed": True}
