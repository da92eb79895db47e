"""What the schedule benches (schedules_start, schedules_fire, schedules_memory) share.

Data: schedules are seeded with set-based SQL straight into `task_schedule`, in
the shapes `service.create_schedule` stores (`task` is the posted task with
its `task_type`, `trigger` is `{"cron", "cron_timezone"}`), and carry the task
description `bench:schedules`; `drop` deletes them, their fires and the tasks
they created (a crashed run's leftovers go at the next start). The scheduled
task is a GC of descriptors of version 999 with `dry_run`: nothing in the
bench database has that version, and a dry run deletes nothing anyway.

Processes: the leader is a real `luna-admin worker` or `luna-admin serve`
started by the bench, at LOG_LEVEL=info (the service's default), because the
leader says when its first full sync is done, and how long it took from the
lock: "scheduler leader: N schedules scheduled in X.XX s". The bench takes
that line's own time stamp (milliseconds, the process's clock, which is the
bench's), not the moment it read the file. The lock's holder is read from
pg_locks (advisory key 5010002: classid 0, objid 5010002), and each process's
connections carry an application_name, so the holder's process is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from bench import gc_common, util

DESCRIPTION = "bench:schedules"
"""The task description of every schedule the benches seed (and of the tasks they fire)."""
TASK = {
    "task_type": 4,
    "content": {
        "target": "face_descriptors",
        "filters": {"descriptor_version": 999},
        "dry_run": True,
    },
    "description": DESCRIPTION,
}
SCHEDULES = 10_000
TRIGGERS = int(os.environ.get("BENCH_SCHEDULE_TRIGGERS", str(SCHEDULES)))
"""Distinct triggers among the seeded daily schedules (default: all distinct, the
worst case: nothing a leader could share between equal triggers helps it)."""
LEADER_LOCK = 5_010_002
"""webapp.schedules.leader.LEADER_LOCK (a session lock on one bigint key: classid 0)."""

READY = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*"
    r"scheduler leader: (\d+) schedules scheduled in ([\d.]+) s",
    re.MULTILINE,
)
WORKER_STARTED = re.compile(r"worker\(s\) running")
READY_TIMEOUT = 120.0
POLL_SECONDS = 0.02

# Daily schedules, each a (minute, hour, zone) of its own, up to TRIGGERS of
# them, then again. Whole-hour zones, so each zone's hours can be put 6-18 h
# ahead of now: no seeded schedule fires while a bench runs.
ZONES = (
    "utc",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Tashkent",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Los_Angeles",
)
SLOTS_PER_ZONE = 12 * 60
"""Minutes of the 12 hours starting 6 h from now, in each zone's wall clock."""

SEED_DAILY_SQL = """
WITH z AS (
    SELECT zone, first_hour, ord - 1 AS k
    FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS t(zone, first_hour, ord)
), s AS (
    SELECT z.zone, (j / $4::int) % 60 AS minute,
           (z.first_hour + (j / $4::int) / 60) % 24 AS hour
    FROM generate_series(0, $1::int - 1) AS i
    CROSS JOIN LATERAL (SELECT i % $6::int AS j) AS slot
    JOIN z ON z.k = j % $4::int
), t AS (
    SELECT zone, minute, hour,
           (date_trunc('day', now() AT TIME ZONE zone)
            + make_interval(hours => hour, mins => minute)) AT TIME ZONE zone AS today
    FROM s
)
INSERT INTO task_schedule (task_type, task, trigger, status, next_run_time)
SELECT 4, $5::jsonb,
       jsonb_build_object('cron', format('%s %s * * *', minute, hour), 'cron_timezone', zone),
       'running',
       CASE WHEN today > now() THEN today ELSE today + interval '1 day' END
FROM t
"""

SEED_AT_SQL = """
INSERT INTO task_schedule (task_type, task, trigger, status, next_run_time)
SELECT 4, $2::jsonb, $3::jsonb, 'running', $4
FROM generate_series(1, $1::int)
RETURNING schedule_id
"""

LOCK_HOLDER_SQL = """
SELECT a.application_name, a.pid
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
  AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


# --------------------------------------------------------------------------- data


def zone_hours(now: datetime) -> list[int]:
    """Each zone's wall-clock hour 6 h from now (its first seeded hour)."""
    later = now + timedelta(hours=6)
    return [later.astimezone(UTC if z == "utc" else ZoneInfo(z)).hour for z in ZONES]


async def seed_daily(
    conn: asyncpg.Connection, count: int = SCHEDULES, triggers: int = TRIGGERS
) -> None:
    """`count` running daily schedules with `triggers` distinct triggers, none due for 5 h."""
    if not 0 < triggers <= SLOTS_PER_ZONE * len(ZONES):
        raise ValueError(f"1 to {SLOTS_PER_ZONE * len(ZONES)} distinct daily triggers")
    await conn.execute(
        SEED_DAILY_SQL,
        count,
        list(ZONES),
        zone_hours(datetime.now(UTC)),
        len(ZONES),
        json.dumps(TASK),
        triggers,
    )


async def seed_at(conn: asyncpg.Connection, count: int, moment: datetime) -> list[int]:
    """`count` running schedules whose daily fire (UTC) is `moment`'s minute."""
    trigger = {"cron": f"{moment.minute} {moment.hour} * * *", "cron_timezone": "utc"}
    rows = await conn.fetch(SEED_AT_SQL, count, json.dumps(TASK), json.dumps(trigger), moment)
    return [int(row["schedule_id"]) for row in rows]


async def drop(conn: asyncpg.Connection) -> tuple[int, int, int]:
    """Delete the bench's schedules, their fires and their tasks; the counts deleted."""
    async with conn.transaction():
        fires = await conn.execute(
            "DELETE FROM schedule_fire WHERE schedule_id IN "
            "(SELECT schedule_id FROM task_schedule WHERE task->>'description' = $1)",
            DESCRIPTION,
        )
        await conn.execute(
            "DELETE FROM notification_outbox WHERE task_id IN "
            "(SELECT task_id FROM task WHERE description = $1)",
            DESCRIPTION,
        )
        tasks = await conn.execute("DELETE FROM task WHERE description = $1", DESCRIPTION)
        schedules = await conn.execute(
            "DELETE FROM task_schedule WHERE task->>'description' = $1", DESCRIPTION
        )
    return _count(schedules), _count(fires), _count(tasks)


def _count(status: str) -> int:
    """The row count of a command's status, such as `DELETE 10000`."""
    return int(status.split()[-1])


async def prepare(conn: asyncpg.Connection) -> None:
    """Drop a crashed run's leftovers; refuse to run beside another leader or foreign work."""
    util.ensure_schema()
    await drop(conn)
    holder = await lock_holder(conn)
    if holder is not None:
        raise RuntimeError(
            f"the scheduler lock of the bench database is held by {holder} "
            "(another luna-admin process runs on it): run the schedule benches alone"
        )
    foreign = await conn.fetchval(
        "SELECT count(*) FROM task_schedule WHERE status = 'running' "
        "AND task->>'description' IS DISTINCT FROM $1",
        DESCRIPTION,
    )
    if foreign:
        raise RuntimeError(
            f"{foreign} running schedule(s) in the bench database are not the bench's: "
            "the leader would schedule them too (pause or delete them first)"
        )
    # The leader processes run a task worker (as deployed): it would take these.
    open_tasks = await conn.fetchval("SELECT count(*) FROM task WHERE task_status IN (0, 1, 4)")
    if open_tasks:
        raise RuntimeError(
            f"{open_tasks} open task(s) in the bench database: the leader processes' "
            "workers would run them (cancel or delete them first)"
        )


async def lock_holder(conn: asyncpg.Connection) -> str | None:
    """The application_name of the connection holding the leader lock, if any."""
    row = await conn.fetchrow(LOCK_HOLDER_SQL, LEADER_LOCK)
    return None if row is None else str(row["application_name"] or f"pid {row['pid']}")


async def cleanup(conn: asyncpg.Connection) -> None:
    schedules, fires, tasks = await drop(conn)
    print(f"  cleanup: {schedules:,} schedule(s), {fires:,} fire(s), {tasks:,} task(s) deleted")


# --------------------------------------------------------------------------- processes


@dataclass
class Leader:
    """A `luna-admin` process that leads the scheduler (or stands by)."""

    name: str
    kind: str
    """worker or serve."""
    process: subprocess.Popen[bytes]
    log: Path
    spawned: float
    """time.time() just before the process was started."""
    read: int = 0
    """How far the log has been searched: at info the leader logs a line per job
    added (APScheduler's), 1 MB for 10,000 jobs, so it is not read again and
    again while the process works."""
    pending: str = ""
    """A line begun in the part read last."""

    @property
    def pid(self) -> int:
        return self.process.pid

    def new_lines(self) -> str:
        """The complete lines logged since the last call."""
        with self.log.open("rb") as handle:
            handle.seek(self.read)
            chunk = handle.read()
        self.read += len(chunk)
        text = self.pending + chunk.decode(errors="replace")
        complete, _, self.pending = text.rpartition("\n")
        return complete

    def find(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """The first line matching `pattern` among those logged since the last call."""
        return pattern.search(self.new_lines())


@dataclass(frozen=True)
class Ready:
    at: float
    """The time stamp of the leader's line (epoch seconds, millisecond precision)."""
    schedules: int
    sync_seconds: float
    """What the leader itself says: from taking the lock to its jobs in place."""


def spawn(name: str, kind: str, *args: str, **env: str) -> Leader:
    """Start `luna-admin worker` (default concurrency unless `args`) or `luna-admin serve`,
    at LOG_LEVEL=info, with `env` added to the environment."""
    if kind == "worker":
        command = [sys.executable, "-m", "webapp.cli", "worker", *args]
    elif kind == "serve":
        command = util.service_command(util.free_port())
    else:
        raise ValueError(kind)
    extra = {"LOG_LEVEL": "info", "DATABASE_URL": gc_common.app_url(name), **env}
    spawned = time.time()
    process, log = util.spawn(name, command, extra)
    return Leader(name, kind, process, log, spawned)


async def ready(leader: Leader) -> Ready:
    """Wait for the leader's "N schedules scheduled in X s" line."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        found = leader.find(READY)
        if found:
            stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
            # asctime is the process's local time, naive: so is `stamp`.
            return Ready(stamp.timestamp(), int(found.group(2)), float(found.group(3)))
        _check_alive(leader, deadline, "no leader line")
        await asyncio.sleep(POLL_SECONDS)


async def started(leader: Leader) -> None:
    """Wait until a worker process runs its background work (a standby says nothing more)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not leader.find(WORKER_STARTED):
        _check_alive(leader, deadline, "not running")
        await asyncio.sleep(POLL_SECONDS)


def _check_alive(leader: Leader, deadline: float, what: str) -> None:
    if leader.process.poll() is not None:
        raise RuntimeError(f"{leader.name} exited:\n{util.tail(leader.log)}")
    if time.monotonic() > deadline:
        raise RuntimeError(f"{leader.name}: {what} after {READY_TIMEOUT:.0f} s")


def kill(leader: Leader) -> None:
    """SIGKILL: the leader dies without a word, as in a crash (or the OOM killer)."""
    if leader.process.poll() is None:
        leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(timeout=10)


@contextlib.contextmanager
def running(*leaders: Leader) -> Iterator[None]:
    """Stop (SIGINT, then SIGKILL) every process given when the block ends."""
    try:
        yield
    finally:
        for leader in leaders:
            util.stop_process(leader.process)


def state(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak) ... of a process, in kB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Vm"):
            key, value = line.split(":", 1)
            found[key] = int(value.split()[0])
    return found


async def connect() -> asyncpg.Connection:
    return await gc_common.connect("bench-schedules")
