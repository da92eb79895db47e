"""Request statistics per route and month, kept in PostgreSQL (`route_stat`).

`RouteStats.observe` is a request observer (see LunaLitestar in webapp/app.py):
it runs after every answer and only adds one to a counter in a dict. A
background task (`run`) adds the counts to the table every FLUSH_SECONDS, and
once more at shutdown, in a single upsert; no request ever waits for it. When
the database cannot be reached the counts stay in memory for the next flush.

A counter is (month, method, route template, status code, error code): the
route is the template ("/4/tasks/{task_id}") and paths no route has share one
label, so the number of counters is bounded by the routes, not by the paths
clients invent. Unknown methods share the label OTHER for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from webapp import db
from webapp.system import settings_service

log = logging.getLogger(__name__)

SERVICE = "luna-admin"
"""`service` of every routes_stats item."""

FLUSH_SECONDS = 5.0
"""How often the counts of this process are added to the table."""

PRUNE_SECONDS = 3600.0
"""How often months older than ROUTE_STATS_RETENTION_MONTHS are deleted."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Key = tuple[date, str, str, int, int]
"""(month, method, route, status code, error code or 0)."""

UPSERT_SQL = """
INSERT INTO route_stat AS s (month, route, status_code, error_code, count)
SELECT * FROM unnest($1::date[], $2::text[], $3::smallint[], $4::integer[], $5::bigint[])
ON CONFLICT (month, route, status_code, error_code)
DO UPDATE SET count = s.count + EXCLUDED.count
"""

PRUNE_SQL = """
DELETE FROM route_stat
 WHERE month < (date_trunc('month', now() AT TIME ZONE 'UTC')
                - make_interval(months => $1 - 1))::date
"""


def month_of(moment: float) -> tuple[date, float]:
    """The first day of the UTC month of `moment`, and when that month ends."""
    now = datetime.fromtimestamp(moment, UTC)
    start = date(now.year, now.month, 1)
    following = date(now.year + now.month // 12, now.month % 12 + 1, 1)
    ends = datetime(following.year, following.month, 1, tzinfo=UTC).timestamp()
    return start, ends


class RouteStats:
    """The counts of this process not yet in the table, and their flushing."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # a test passes its own, to cross a month's end
        self._counts: dict[Key, int] = {}
        self._month, self._month_ends = month_of(clock())
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ counting

    def observe(
        self, method: str, route: str, status: int, error_code: int | None, seconds: float
    ) -> None:
        """A request observer: one dict update, nothing else (it runs on every request)."""
        now = self._clock()
        if now >= self._month_ends:
            self._month, self._month_ends = month_of(now)
        key = (
            self._month,
            method if method in METHODS else "OTHER",
            route,
            status,
            error_code or 0,
        )
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1

    @property
    def pending(self) -> dict[Key, int]:
        """The counts not yet flushed (a copy)."""
        return dict(self._counts)

    def discard(self) -> None:
        """Forget the counts not yet flushed (tests start from nothing)."""
        self._counts = {}

    # ------------------------------------------------------------------ flushing

    async def flush(self) -> int:
        """Add the pending counts to the table in one statement; return how many
        counters were written. On failure they are kept for the next flush."""
        if not self._counts:
            return 0
        # Swapped before the first await: counts of requests answered while the
        # upsert runs go to the new dict, none is lost or counted twice.
        counts, self._counts = self._counts, {}
        # Sorted, so two processes flushing at once lock rows in the same order.
        keys = sorted(counts)
        try:
            await db.fetch(
                UPSERT_SQL,
                [key[0] for key in keys],
                [f"{key[1]}:{key[2]}" for key in keys],
                [key[3] for key in keys],
                [key[4] for key in keys],
                [counts[key] for key in keys],
            )
        except BaseException:
            for key, count in counts.items():
                self._counts[key] = self._counts.get(key, 0) + count
            raise
        return len(keys)

    async def prune(self) -> None:
        """Delete the months older than ROUTE_STATS_RETENTION_MONTHS."""
        keep = (await settings_service.values("ROUTE_STATS_RETENTION_MONTHS"))[
            "ROUTE_STATS_RETENTION_MONTHS"
        ]
        await db.fetch(PRUNE_SQL, int(keep))

    def start(self) -> None:
        """Start flushing in the background (the app's startup hook)."""
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.run(self._stop))

    async def stop(self) -> None:
        """Stop the background flushing; what is pending is flushed once more."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None

    async def run(self, stop: asyncio.Event, interval: float = FLUSH_SECONDS) -> None:
        pruned_at = float("-inf")  # prune at the first round, then hourly
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            try:
                await self.flush()
                if time.monotonic() - pruned_at >= PRUNE_SECONDS:
                    await self.prune()
                    pruned_at = time.monotonic()
            except Exception as error:  # the database is away: try again next time
                log.warning("route statistics not written yet: %s", error)
            if stop.is_set():
                return


async def routes_stats() -> list[dict[str, Any]]:
    """`stats.routes_stats` of luna_sys_info: per route and month, newest month first,
    the request counts by status code and the error counts by error code."""
    rows = await db.fetch(
        "SELECT to_char(month, 'YYYY-MM') AS month, route, status_code, error_code, count "
        "FROM route_stat ORDER BY month DESC, route, status_code, error_code"
    )
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        item = items.setdefault(
            (row["month"], row["route"]),
            {
                "service": SERVICE,
                "route": row["route"],
                "month": row["month"],
                "errors": {},
                "request_stats": {},
            },
        )
        _add(item["request_stats"], str(row["status_code"]), row["count"])
        if row["error_code"]:
            _add(item["errors"], str(row["error_code"]), row["count"])
    return [
        {
            **item,
            "errors": [{"count": n, "error_code": code} for code, n in item["errors"].items()],
            "request_stats": [
                {"count": n, "status_code": code} for code, n in item["request_stats"].items()
            ],
        }
        for item in items.values()
    ]


def _add(counts: dict[str, int], key: str, count: int) -> None:
    counts[key] = counts.get(key, 0) + count
