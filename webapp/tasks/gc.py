"""Garbage collection (task type 4): remove what matches a target's filters,
in bounded batches, one subtask per id range.

`dry_run` (an extension) walks the same batches and removes nothing: the
result tells what would go.
"""

from __future__ import annotations

import uuid
from typing import Any

from webapp.platform.service import live_owner
from webapp.tasks.work import (
    Applied,
    Counts,
    Filters,
    ResultPart,
    Work,
    int_ranges,
    range_clause,
    time_filter,
    uuid_ranges,
)


class GcWork(Work):
    table: str
    id_column: str
    id_cast: str = "uuid"
    reported_column: str | None = None
    """What the result lists per removed row (default: the id itself)."""

    @property
    def filters(self) -> dict[str, Any]:
        return dict(self.content.get("filters") or {})

    @property
    def dry_run(self) -> bool:
        return bool(self.content.get("dry_run", False))

    @property
    def stores_result(self) -> bool:
        return bool(self.content.get("store_results", True))

    @property
    def stores_ids(self) -> bool:
        return self.stores_result

    def where(self) -> Filters:
        """The target's own filters (everything but the id range)."""
        raise NotImplementedError

    @property
    def across_accounts(self) -> bool:
        """Whether the GC removes in every account (no account filter): the pages
        ask for confirmation with a preview's count first."""
        return not self.filters.get("account_id")

    async def count(self, conn: Any) -> int:
        """The rows the filters match now (what a run would remove)."""
        where = self.where()
        count = await conn.fetchval(
            f"SELECT count(*) FROM {self.table} WHERE {where.sql()}", *where.args
        )
        return int(count)

    async def plan(self, conn: Any) -> list[dict[str, Any]]:
        self.planned = await self.count(conn)
        return uuid_ranges(self.planned, self.subtask_size)

    async def fetch(self, conn: Any, subtask: dict[str, Any], cursor: Any) -> Any | None:
        """The batch is an id interval: (cursor, upper bound of the next n rows].

        Only the bound crosses the wire; `apply` deletes the interval in one
        range scan, and the ids it reports never enter Python.
        """
        where = self.where()
        range_clause(where, self.id_column, subtask, cursor, self.id_cast)
        bound = await conn.fetchval(
            f"SELECT id FROM (SELECT {self.id_column} AS id FROM {self.table} "
            f"WHERE {where.sql()} ORDER BY {self.id_column} LIMIT {int(self.batch_size)}) s "
            "ORDER BY id DESC LIMIT 1",
            *where.args,
        )
        if bound is None:
            return None
        return {"subtask": subtask, "cursor": cursor, "bound": bound}

    async def apply(self, conn: Any, batch: Any, computed: Any, part: ResultPart) -> Applied:
        # The filters are applied again: a row changed since `fetch` stays.
        where = self.where()
        range_clause(where, self.id_column, batch["subtask"], batch["cursor"], self.id_cast)
        where.add(f"{self.id_column} <= {{}}::{self.id_cast}", batch["bound"])
        reported = self.reported_column or self.id_column
        if self.dry_run:
            rows = f"SELECT {reported} AS r FROM {self.table} WHERE {where.sql()}"
        else:
            await self.before_delete(conn, where)
            if not self.stores_ids:
                # No RETURNING: it would read every deleted row again (a third of
                # the statement's time), only for a count the status already has.
                status = await conn.execute(
                    f"DELETE FROM {self.table} WHERE {where.sql()}", *where.args
                )
                return Applied(cursor=_jsonable(batch["bound"]), handled=int(status.split()[-1]))
            rows = f"DELETE FROM {self.table} WHERE {where.sql()} RETURNING {reported} AS r"
        n = len(where.args)
        # One statement: the rows go, and (when kept) their ids are written as the
        # batch's result part without ever reaching Python.
        handled = await conn.fetchval(
            f"WITH gone AS ({rows}), part AS ("
            "INSERT INTO subtask_result_part (subtask_id, seq, handled, ids) "
            f"SELECT ${n + 1}, ${n + 2}, count(*), array_agg(r) FROM gone "
            f"HAVING ${n + 3}::bool AND count(*) > 0) "
            "SELECT count(*) FROM gone",
            *where.args,
            part.subtask_id,
            part.seq,
            self.stores_ids,
        )
        return Applied(cursor=_jsonable(batch["bound"]), handled=int(handled))

    async def before_delete(self, conn: Any, where: Filters) -> None:
        """Removals that must happen first (samples of events), given the batch's rows."""

    def summary(self, counts: Counts) -> tuple[dict[str, Any], str | None]:
        handled = counts.handled
        result: dict[str, Any] = {
            "target": self.content["target"],
            "dry_run": self.dry_run,
            "removed_count": 0 if self.dry_run else handled,
        }
        if self.dry_run:
            result["would_remove_count"] = handled
        ids_key = (
            ("would_remove_ids" if self.dry_run else "removed_ids") if self.stores_ids else None
        )
        return result, ids_key


class FaceDescriptorsGc(GcWork):
    """Descriptors of one version (after the platform moved to another)."""

    table = "descriptor"
    id_column = "descriptor_id"
    id_cast = "bigint"
    reported_column = "face_id"

    def where(self) -> Filters:
        where = Filters()
        where.add("descriptor_version = {}::int", self.filters["descriptor_version"])
        return where

    async def plan(self, conn: Any) -> list[dict[str, Any]]:
        where = self.where()
        row = await conn.fetchrow(
            f"SELECT min(descriptor_id) AS low, max(descriptor_id) AS high, count(*) AS n "
            f"FROM descriptor WHERE {where.sql()}",
            *where.args,
        )
        self.planned = int(row["n"])
        return int_ranges(row["low"], row["high"], self.subtask_size)


class FacesGc(GcWork):
    table = "face"
    id_column = "face_id"

    def where(self) -> Filters:
        f, where = self.filters, account_and_time(self.filters)
        if f.get("list_id"):
            where.add(
                "EXISTS (SELECT 1 FROM list_face m WHERE m.face_id = face.face_id "
                "AND m.list_id = {}::uuid)",
                f["list_id"],
            )
        return where


class EventsGc(GcWork):
    table = "event"
    id_column = "event_id"

    def where(self) -> Filters:
        f, where = self.filters, account_and_time(self.filters)
        if f.get("handler_id"):
            where.add("handler_id = {}::uuid", f["handler_id"])
        return where

    async def before_delete(self, conn: Any, where: Filters) -> None:
        if self.content.get("remove_samples"):
            await conn.execute(
                f"DELETE FROM sample WHERE event_id IN (SELECT event_id FROM event "
                f"WHERE {where.sql()})",
                *where.args,
            )


class FaceAttributesGc(GcWork):
    """Attributes whose TTL has passed, or that no face links."""

    table = "face_attribute"
    id_column = "attribute_id"

    def where(self) -> Filters:
        where = Filters()
        where.add("((expire_time IS NOT NULL AND expire_time <= now()) OR face_id IS NULL)")
        where.add(live_owner())  # an account being removed is its removal's
        if self.filters.get("account_id"):
            where.add("account_id = {}::uuid", self.filters["account_id"])
        return where


def account_and_time(filters: dict[str, Any]) -> Filters:
    """The filters faces and events share: account_id, create_time__gte, create_time__lt.

    Rows of accounts being removed are left out: they are gone for every route,
    and their own removal deletes them.
    """
    where = Filters()
    where.add(live_owner())
    if filters.get("account_id"):
        where.add("account_id = {}::uuid", filters["account_id"])
    if filters.get("create_time__gte"):
        where.add("create_time >= {}", time_filter(filters["create_time__gte"]))
    if filters.get("create_time__lt"):
        where.add("create_time < {}", time_filter(filters["create_time__lt"]))
    return where


GC_WORKS: dict[str, type[GcWork]] = {
    "face_descriptors": FaceDescriptorsGc,
    "faces": FacesGc,
    "events": EventsGc,
    "face_attributes": FaceAttributesGc,
}


def gc_work(content: dict[str, Any], batch_size: int, subtask_size: int) -> GcWork:
    return GC_WORKS[content["target"]](content, batch_size, subtask_size)


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value
