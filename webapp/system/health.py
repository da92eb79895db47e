"""`GET /healthcheck`: can this service do its job right now?

Components checked, each with a short timeout:

- **database**: a query answers (through this process's pool: an exhausted
  pool is as unusable as a stopped server).
- **scheduler**: when a schedule is running, some process must lead the
  scheduler, i.e. hold the advisory lock LEADER_LOCK in this database (see
  webapp/schedules/leader.py); otherwise no schedule fires, whatever this
  process's SCHEDULER_ENABLED says. And no running schedule may be overdue
  (its next_run_time passed OVERDUE_SECONDS ago): a leader that holds the lock
  but does not fire is as bad as none. With no running schedule, having no
  leader harms nothing and is not reported.
- **workers**: judged by the work, not by the registry of worker processes (the
  workers page's, webapp/tasks/queue.py): a registered process may be stuck. So
  the check is about work waiting: unhealthy when
  a subtask has waited for a worker longer than WORKER_DEAD_AFTER_SECONDS, or a
  claimed one has not heartbeated for that long, while no subtask at all has a
  fresh heartbeat (a busy live worker explains waiting work; a dead one does not).
  With nothing waiting, having no worker is fine.
- with `include_luna_services=1`, the **outside services** the settings name:
  today only the Telegram Bot API (TELEGRAM_API_URL). Any HTTP answer below
  500 counts as reachable (the base URL needs no token; Telegram answers it
  with a redirect, which is not followed); a 5xx, a refused connection, no
  answer in time, or an address the outbound rules refuse (the request goes
  through webapp/outbound/client.py, like the notifications) does not.

The database checks depend on the database: when it fails they are not run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from webapp import db
from webapp.outbound.client import AddressRefused, outbound_client
from webapp.redaction import redact_url
from webapp.schedules.leader import LEADER_LOCK
from webapp.settings import Settings
from webapp.web.errors import BY_NAME, error_body

DB_TIMEOUT_SECONDS = 3.0
"""Each database check (a load balancer's probe should not hang on us)."""
SERVICE_TIMEOUT_SECONDS = 3.0
"""Each outside service."""
OVERDUE_SECONDS = 60.0
"""A running schedule whose fire is this late has not been fired by any leader."""

LEADER_SQL = """
SELECT l.pid FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1
LIMIT 1
"""
# pg_advisory_lock(bigint) shows its key split: classid = high 32 bits, objid = low.

SCHEDULES_SQL = """
SELECT count(*) AS running,
       min(next_run_time) FILTER (WHERE next_run_time < now() - make_interval(secs => $1))
           AS overdue_time,
       (array_agg(schedule_id ORDER BY next_run_time)
           FILTER (WHERE next_run_time < now() - make_interval(secs => $1)))[1] AS overdue_id,
       extract(epoch FROM now() - min(next_run_time)) AS late_seconds
FROM task_schedule WHERE status = 'running'
"""

WORKERS_SQL = """
SELECT
  (SELECT count(*) FROM subtask
   WHERE subtask_status = 1 AND heartbeat_time >= now() - make_interval(secs => $1)) AS live,
  (SELECT count(*) FROM subtask s JOIN task t ON t.task_id = s.task_id
   WHERE s.subtask_status = 0 AND t.task_status IN (0, 1)
     AND greatest(s.create_time, s.heartbeat_time) < now() - make_interval(secs => $1))
     AS waiting,
  (SELECT extract(epoch FROM now() - min(greatest(s.create_time, s.heartbeat_time)))
   FROM subtask s JOIN task t ON t.task_id = s.task_id
   WHERE s.subtask_status = 0 AND t.task_status IN (0, 1)) AS oldest_wait,
  (SELECT count(*) FROM subtask
   WHERE subtask_status = 1 AND heartbeat_time < now() - make_interval(secs => $1)) AS stale,
  (SELECT extract(epoch FROM now() - min(heartbeat_time)) FROM subtask
   WHERE subtask_status = 1) AS oldest_heartbeat
"""


@dataclass(frozen=True)
class Failure:
    component: str
    reason: str

    def body(self) -> dict[str, Any]:
        kind = BY_NAME["COMPONENT_UNHEALTHY"]
        return {
            "component": self.component,
            "error": error_body(
                kind, kind.detail.format(component=self.component, reason=self.reason)
            ),
        }


@dataclass(frozen=True)
class Report:
    failures: list[Failure]
    execution_time: float

    @property
    def healthy(self) -> bool:
        return not self.failures

    def body(self) -> dict[str, Any]:
        """200: `{"execution_time"}`; 502: the error, each failure, and the time."""
        seconds = round(self.execution_time, 4)
        if self.healthy:
            return {"execution_time": seconds}
        kind = BY_NAME["SERVICE_UNHEALTHY"]
        names = ", ".join(failure.component for failure in self.failures)
        return {
            **error_body(kind, kind.detail.format(components=names)),
            "errors": [failure.body() for failure in self.failures],
            "execution_time": seconds,
        }


async def _bounded(seconds: float, query: str, *args: Any) -> Any:
    async with asyncio.timeout(seconds):
        return await db.fetchrow(query, *args)


def _why(exc: BaseException, seconds: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {seconds:g} s"
    return f"{type(exc).__name__}: {str(exc) or 'failed'}"[:500]


async def check_database() -> Failure | None:
    try:
        await _bounded(DB_TIMEOUT_SECONDS, "SELECT 1")
    except Exception as exc:
        return Failure("database", _why(exc, DB_TIMEOUT_SECONDS))
    return None


async def check_scheduler() -> Failure | None:
    try:
        leader = await _bounded(
            DB_TIMEOUT_SECONDS, LEADER_SQL, LEADER_LOCK >> 32, LEADER_LOCK & 0xFFFFFFFF
        )
        schedules = await _bounded(DB_TIMEOUT_SECONDS, SCHEDULES_SQL, OVERDUE_SECONDS)
    except Exception as exc:
        return Failure("scheduler", _why(exc, DB_TIMEOUT_SECONDS))
    running = int(schedules["running"]) if schedules else 0
    if running and leader is None:
        return Failure(
            "scheduler",
            f"no process leads the scheduler (nobody holds advisory lock {LEADER_LOCK}): "
            f"{running} running schedule(s) will not fire; run a process with "
            "SCHEDULER_ENABLED=1",
        )
    if schedules and schedules["overdue_id"] is not None:
        return Failure(
            "scheduler",
            f"schedule {schedules['overdue_id']} was due "
            f"{float(schedules['late_seconds']):.0f} s ago and has not fired",
        )
    return None


async def check_workers(settings: Settings) -> Failure | None:
    dead_after = settings.worker_dead_after_seconds
    try:
        row = await _bounded(DB_TIMEOUT_SECONDS, WORKERS_SQL, dead_after)
    except Exception as exc:
        return Failure("workers", _why(exc, DB_TIMEOUT_SECONDS))
    assert row is not None
    if row["live"] or not (row["waiting"] or row["stale"]):
        return None
    problems = []
    if row["waiting"]:
        problems.append(
            f"{row['waiting']} subtask(s) waited more than {dead_after:g} s for a worker "
            f"(the oldest {float(row['oldest_wait']):.0f} s)"
        )
    if row["stale"]:
        problems.append(
            f"{row['stale']} claimed subtask(s) without a heartbeat for more than "
            f"{dead_after:g} s (the oldest {float(row['oldest_heartbeat']):.0f} s)"
        )
    return Failure(
        "workers",
        "no live task worker: " + "; ".join(problems) + " (start `luna-admin worker` or set "
        "WORKERS_IN_PROCESS above 0)",
    )


def outside_services(settings: Settings) -> list[tuple[str, str]]:
    """(component, URL) of every outside service the settings configure."""
    return [("telegram_api", settings.telegram_api_url)]


async def check_service(client: httpx.AsyncClient, component: str, url: str) -> Failure | None:
    shown = redact_url(url)
    try:
        async with asyncio.timeout(SERVICE_TIMEOUT_SECONDS):
            response = await client.get(url, timeout=SERVICE_TIMEOUT_SECONDS)
    except (TimeoutError, httpx.TimeoutException):
        return Failure(component, f"{shown}: no answer within {SERVICE_TIMEOUT_SECONDS:g} s")
    except AddressRefused as exc:
        return Failure(component, f"{shown}: refused: {exc}"[:500])
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        return Failure(component, f"{shown}: {type(exc).__name__}: {str(exc) or 'failed'}"[:500])
    if response.status_code >= 500:
        return Failure(component, f"{shown}: answered HTTP {response.status_code}")
    return None


async def _services(settings: Settings) -> list[Failure | None]:
    async with outbound_client(settings.allowed_networks) as client:
        return list(
            await asyncio.gather(
                *(check_service(client, name, url) for name, url in outside_services(settings))
            )
        )


async def _internal(settings: Settings) -> list[Failure | None]:
    failed = await check_database()
    if failed is not None:
        return [failed]
    return list(await asyncio.gather(check_scheduler(), check_workers(settings)))


async def check(settings: Settings, include_services: bool) -> Report:
    started = time.perf_counter()
    parts = [_internal(settings)]
    if include_services:
        parts.append(_services(settings))
    results = await asyncio.gather(*parts)
    failures = [failure for part in results for failure in part if failure is not None]
    return Report(failures, time.perf_counter() - started)
