"""`GET /metrics`: Prometheus text exposition.

Two sources:

- **This process**, counted in memory: requests by route and status
  (`request_count_total{path="GET:/4/tasks/{task_id}",status_code="200"}`), their
  latency (`request_latency_seconds`, a histogram by route) and failed sign-ins
  (`login_failures_total`). These are per process: every server process
  exposes its own, so scrape each one (they start at zero with the process).
  Counting is a dict update on the request observer (webapp/app.py); nothing
  is locked or written anywhere on the request path.
- **The database**, read at scrape time (one round trip, bounded by
  SCRAPE_TIMEOUT_SECONDS): tasks by status, task schedules by status, subtasks
  finished by status, schedule fires by outcome. Every process reports the same
  values for these: aggregate them with max(), not sum(). The "counters" among
  them count rows, so deleting tasks or schedules lowers them; Prometheus
  reads a decrease as a counter reset, which rate() tolerates.

The text is written by prometheus_client from metric families built here, so
its escaping and format are the reference implementation's.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Iterator

from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from webapp import db
from webapp.tasks.states import STATUS_NAMES

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4"
"""The classic text format (what generate_latest writes); every Prometheus reads it.
(Litestar adds `; charset=utf-8` to text types itself.)"""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds in seconds (prometheus_client's defaults); +Inf is implied."""

SCRAPE_TIMEOUT_SECONDS = 3.0


class _Latency:
    __slots__ = ("buckets", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Any other method is counted as OTHER: clients may send any token as a method,
and each would otherwise be a new series forever."""


class RequestMetrics:
    """The request counters of one app; `observe` is its request observer."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.latency: dict[str, _Latency] = {}

    def observe(
        self, method: str, route: str, status: int, error_code: int | None, seconds: float
    ) -> None:
        path = f"{method if method in METHODS else 'OTHER'}:{route}"
        key = (path, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        latency = self.latency.get(path)
        if latency is None:
            latency = self.latency[path] = _Latency()
        # bisect_left: a value equal to a bound belongs to that bucket (le = "<=").
        latency.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency.sum += seconds

    def families(self) -> Iterator[Metric]:
        counts = CounterMetricFamily(
            "request_count", "Counter of requests", labels=["path", "status_code"]
        )
        for (path, status), count in sorted(self.counts.items()):
            counts.add_metric([path, str(status)], count)
        yield counts
        histogram = HistogramMetricFamily(
            "request_latency_seconds",
            "Seconds from receiving a request to the end of its answer",
            labels=["path"],
        )
        for path, latency in sorted(self.latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), latency.buckets, strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            histogram.add_metric([path], buckets, latency.sum)
        yield histogram


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


class LoginFailures:
    """Failed sign-ins (wrong password or unknown login, by any route) in this process."""

    def __init__(self) -> None:
        self.count = 0

    def inc(self) -> None:
        self.count += 1


LOGIN_FAILURES = LoginFailures()
"""Incremented by webapp/accounts/authentication.py; per process, like the requests."""

DATABASE_SQL = """
SELECT 'task' AS source, task_status::text AS key, count(*) AS n FROM task GROUP BY task_status
UNION ALL
SELECT 'subtask', subtask_status::text, count(*) FROM subtask
    WHERE subtask_status IN (2, 3, 5) GROUP BY subtask_status
UNION ALL
SELECT 'schedule', status, count(*) FROM task_schedule GROUP BY status
UNION ALL
SELECT 'fire', outcome, count(*) FROM schedule_fire GROUP BY outcome
"""

FINISHED = (2, 3, 5)
SCHEDULE_STATUSES = ("running", "paused")
FIRE_OUTCOMES = ("created", "skipped")


async def database_counts() -> dict[tuple[str, str], int] | None:
    """Counts by (source, key), or None when the database did not answer in time."""
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_SECONDS):
            rows = await db.fetch(DATABASE_SQL)
    except Exception:
        log.warning("metrics: the database did not answer; its metrics are left out")
        return None
    return {(row["source"], row["key"]): int(row["n"]) for row in rows}


def database_families(counts: dict[tuple[str, str], int] | None) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "database_scrape_success",
        "1 when this scrape read the task and schedule metrics from the database",
    )
    up.add_metric([], 1 if counts is not None else 0)
    yield up
    if counts is None:
        return
    tasks = GaugeMetricFamily("task_count", "Tasks by status", labels=["status"])
    for status, name in STATUS_NAMES.items():
        tasks.add_metric([name], counts.get(("task", str(int(status))), 0))
    yield tasks
    subtasks = CounterMetricFamily(
        "subtasks_finished",
        "Subtasks that ended, by status (rate() of status done is the throughput)",
        labels=["status"],
    )
    for status in FINISHED:
        subtasks.add_metric([STATUS_NAMES[status]], counts.get(("subtask", str(status)), 0))
    yield subtasks
    schedules = GaugeMetricFamily(
        "task_schedule_count", "Task schedules by status", labels=["status"]
    )
    for name in SCHEDULE_STATUSES:
        schedules.add_metric([name], counts.get(("schedule", name), 0))
    yield schedules
    fires = CounterMetricFamily(
        "schedule_fires",
        "Schedule fires by outcome: created a task, or skipped (previous task unfinished)",
        labels=["outcome"],
    )
    for outcome in FIRE_OUTCOMES:
        fires.add_metric([outcome], counts.get(("fire", outcome), 0))
    yield fires


class _Snapshot(Collector):
    """Hands already gathered families to generate_latest (which is synchronous)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


async def exposition(requests: RequestMetrics) -> bytes:
    families: list[Metric] = list(requests.families())
    logins = CounterMetricFamily("login_failures", "Failed sign-ins (wrong login or password)")
    logins.add_metric([], LOGIN_FAILURES.count)
    families.append(logins)
    families.extend(database_families(await database_counts()))
    return generate_latest(_Snapshot(families))
