"""What the GC benches (gc_throughput, gc_cancel, gc_scaling) share.

Data: the big account's million faces (`util.ensure_big_account`), each with a
descriptor of version 59, which every GC leaves alone, and one of version 56,
which the GC removes. They are seeded once with set-based SQL, like
`luna-admin seed` (the 512-byte vector is a function of the face id), and
kept. After a run `restore` puts the v56 rows back, identical, vacuums,
analyses and checkpoints, so every run starts from the same state: the same
rows in the same place, hint bits and visibility map set, no dirty pages
waiting for a checkpoint, and the first change of every page pays a full-page
image in the WAL in each run alike.

Processes: `luna-admin serve` with WORKERS_IN_PROCESS=0 answers the task API
and does no task work; separate `luna-admin worker --concurrency 1` processes
do it. Every process's connections carry an application_name (bench-serve,
bench-worker-N, bench-delete, bench-sampler...), so the sampler can tell in
pg_stat_activity which backend works for whom.

The `Sampler` runs beside each measured run and collects what the analysis of
a missed target needs: CPU time of every process involved (from /proc), of the
machine and of everybody else, CPU and IO pressure (PSI), what the workers'
backends were doing (running, waiting on which event, or idle while Python
works), ungranted locks (pg_locks), WAL and checkpoints.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx

from bench import util

GONE = 56
"""The descriptor version every GC of the benches removes."""
KEPT = 59
"""The version left alone (as many rows, interleaved in the same table)."""
ROUNDS = int(os.environ.get("BENCH_GC_ROUNDS", "2"))
"""Rounds of each GC comparison; each run costs a restore of ~1M rows (~1 min here)."""
BATCH_SIZE = int(os.environ.get("GC_BATCH_SIZE") or 20_000)
"""The workers' batch (they inherit the environment; 20,000 is the service's default)."""
DESCRIPTION = "bench:gc"
"""Every task the benches create carries this description; cleanup deletes them."""

DONE, CANCELLED, FAILED = 5, 2, 3
TERMINAL = {DONE, CANCELLED, FAILED}
POLL_SECONDS = 0.1
"""GET /4/tasks/{id} while a GC runs: fine enough for runs of seconds, cheap for the server."""
TASK_TIMEOUT = 900.0
"""The longest a GC may take before the bench gives up (bounded loops)."""
SAMPLE_SECONDS = 0.25

DELETE_SQL = f"DELETE FROM descriptor WHERE descriptor_version = {GONE}"
"""The baseline: what one would type (a literal, like a DBA at psql: no generic plan)."""

SEED_SQL = """
INSERT INTO descriptor (face_id, descriptor_version, vector)
SELECT face_id, $1::int, decode(repeat(md5(face_id::text || $1::int::text), 32), 'hex')
FROM face WHERE account_id = $2::uuid
ON CONFLICT (face_id, descriptor_version) DO NOTHING
"""
# The same vector as SEED_SQL and webapp/platform/seed.py: a restored row is
# the row the GC removed, apart from its id.
RESTORE_SQL = """
INSERT INTO descriptor (face_id, descriptor_version, vector)
SELECT face_id, $1::int, decode(repeat(md5(face_id::text || $1::int::text), 32), 'hex')
FROM descriptor WHERE descriptor_version = $2::int
ON CONFLICT (face_id, descriptor_version) DO NOTHING
"""


# --------------------------------------------------------------------------- connections


def app_url(name: str) -> str:
    """DATABASE_URL with an application_name (asyncpg passes unknown URL
    parameters on as server settings), shown in pg_stat_activity."""
    parts = urlsplit(util.database_url())
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "application_name"]
    query.append(("application_name", name))
    return urlunsplit(parts._replace(query=urlencode(query)))


async def connect(name: str = "bench") -> asyncpg.Connection:
    return await asyncpg.connect(app_url(name))


async def count_version(conn: asyncpg.Connection, version: int = GONE) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM descriptor WHERE descriptor_version = $1", version
        )
    )


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    account_id: str
    rows: int
    """v56 descriptors in a full table: what one GC removes."""


def prepare_data() -> Data:
    """Seed the descriptors if missing (once), drop leftovers of a broken run."""
    account = util.ensure_big_account()
    return asyncio.run(_prepare(account))


async def _prepare(account: str) -> Data:
    conn = await connect()
    try:
        await drop_tasks(conn)
        await _refuse_foreign_tasks(conn)
        faces = int(
            await conn.fetchval("SELECT count(*) FROM face WHERE account_id = $1::uuid", account)
        )
        seeded = False
        for version, sql, args in (
            (KEPT, SEED_SQL, (KEPT, account)),
            (GONE, RESTORE_SQL, (GONE, KEPT)),
        ):
            have = await count_version(conn, version)
            if have < faces:
                print(f"seeding {faces - have:,} descriptors of version {version} ...", flush=True)
                started = time.perf_counter()
                await conn.execute(sql, *args)
                print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
                seeded = True
        # Every v56 row must have a v59 sibling, or a GC would delete rows that
        # `restore` cannot bring back.
        stray = await conn.fetchval(
            "SELECT count(*) FROM descriptor d WHERE d.descriptor_version = $1 AND NOT EXISTS ("
            "SELECT 1 FROM descriptor k WHERE k.face_id = d.face_id AND k.descriptor_version = $2)",
            GONE,
            KEPT,
        )
        if stray:
            raise RuntimeError(
                f"{stray} descriptors of version {GONE} have no version {KEPT} sibling: "
                "the GC benches could not restore them, so they do not run"
            )
        if seeded:
            await conn.execute("VACUUM (ANALYZE) descriptor")
        return Data(account, await count_version(conn, GONE))
    finally:
        await conn.close()


async def _refuse_foreign_tasks(conn: asyncpg.Connection) -> None:
    open_tasks = await conn.fetchval(
        "SELECT count(*) FROM task WHERE task_status IN (0, 1, 4) AND description <> $1",
        DESCRIPTION,
    )
    if open_tasks:
        raise RuntimeError(
            f"{open_tasks} open task(s) in the bench database are not the bench's: "
            "its workers would run them (cancel or delete them first)"
        )


async def restore(conn: asyncpg.Connection) -> float:
    """Put the removed v56 rows back and bring the table to the same state; seconds taken."""
    started = time.perf_counter()
    if await count_version(conn, GONE) < await count_version(conn, KEPT):
        # After a partial GC (a cancel) the survivors go too: all v56 rows come
        # back with fresh, contiguous ids, so every run plans the same subtasks.
        await conn.execute(f"DELETE FROM descriptor WHERE descriptor_version = {GONE}")
        # Vacuum first: the rows go back into the space the GC freed (and the
        # table does not grow by a million rows each run).
        await conn.execute("VACUUM descriptor")
        await conn.execute(RESTORE_SQL, GONE, KEPT)
    await conn.execute("VACUUM (ANALYZE) descriptor")
    # Start every run right after a checkpoint; needs superuser or pg_checkpoint.
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")
    return time.perf_counter() - started


async def drop_tasks(conn: asyncpg.Connection) -> int:
    """Cancel and delete every task the benches made (subtasks, parts, results go with them)."""
    await conn.execute(
        "UPDATE task SET task_status = 2, end_time = now() "
        "WHERE description = $1 AND task_status IN (0, 1, 4)",
        DESCRIPTION,
    )
    await conn.execute(
        "DELETE FROM notification_outbox WHERE task_id IN "
        "(SELECT task_id FROM task WHERE description = $1)",
        DESCRIPTION,
    )
    status = await conn.execute("DELETE FROM task WHERE description = $1", DESCRIPTION)
    return int(status.split()[-1])


async def cleanup(conn: asyncpg.Connection) -> None:
    """Leave the database as the bench found it: no tasks of ours, all v56 rows back."""
    dropped = await drop_tasks(conn)
    seconds = await restore(conn)
    print(f"  cleanup: {dropped} task(s) deleted, descriptors restored ({seconds:.0f} s)")


async def close(api: Any, conn: asyncpg.Connection) -> None:
    """The end of every GC bench, even a failed one: its API client, cleanup, the connection."""
    await api.close()
    try:
        await cleanup(conn)
    finally:
        await conn.close()


# --------------------------------------------------------------------------- processes


@contextlib.contextmanager
def service(**env: str) -> Iterator[util.Server]:
    """`luna-admin serve` for the task API only: WORKERS_IN_PROCESS=0 (plus `env`)."""
    port = util.free_port()
    extra = {"WORKERS_IN_PROCESS": "0", "DATABASE_URL": app_url("bench-serve"), **env}
    with util.serve("gc-service", util.service_command(port), port, "/version", env=extra) as svc:
        yield svc


WORKER_STARTED = re.compile(r"worker \S+ started")


def _spawn_worker(index: int, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    # LOG_LEVEL=info: the worker says when it runs (a few lines per task, none per batch).
    command = [sys.executable, "-m", "webapp.cli", "worker", "--concurrency", "1"]
    extra = {"LOG_LEVEL": "info", "DATABASE_URL": app_url(f"bench-worker-{index}"), **env}
    return util.spawn(f"gc-worker-{index}", command, extra)


def _worker_ready(process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"luna-admin worker exited at start:\n{util.tail(log)}")
    return bool(WORKER_STARTED.search(log.read_text(errors="replace")))


def _stop_all(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # to all first: they stop in parallel
    for process in processes:
        util.stop_process(process)


@contextlib.asynccontextmanager
async def workers(count: int, **env: str) -> AsyncIterator[list[int]]:
    """`count` processes of `luna-admin worker --concurrency 1`, running; yields their pids."""
    spawned = [_spawn_worker(index + 1, env) for index in range(count)]
    try:
        deadline = time.monotonic() + util.START_TIMEOUT
        while not all(_worker_ready(process, log) for process, log in spawned):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not running after {util.START_TIMEOUT:.0f} s")
            await asyncio.sleep(0.1)
        yield [process.pid for process, _ in spawned]
    finally:
        _stop_all([process for process, _ in spawned])


# --------------------------------------------------------------------------- task API


class Api:
    """The task routes of one service, as the admin (Basic auth), to 127.0.0.1 only."""

    def __init__(self, svc: util.Server) -> None:
        self.client = httpx.AsyncClient(
            base_url=svc.url(""), headers=util.basic_auth(), timeout=30.0, trust_env=False
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def create_gc(self, store_results: bool) -> int:
        body = {
            "content": {
                "target": "face_descriptors",
                "filters": {"descriptor_version": GONE},
                "store_results": store_results,
            },
            "description": DESCRIPTION,
        }
        response = await self.client.post("/4/tasks/gc", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST /4/tasks/gc -> {response.status_code}: {response.text[:300]}")
        return int(response.json()["task_id"])

    async def task(self, task_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/4/tasks/{task_id}")
        if response.status_code != 200:
            raise RuntimeError(f"GET /4/tasks/{task_id} -> {response.status_code}")
        task: dict[str, Any] = response.json()
        return task

    async def result_check(self, task_id: int, rows: int, label: str) -> dict[str, Any]:
        """GET the result (after the timed run): it must list `rows` distinct ids.
        Its ids are read from the batches' parts as the answer streams out."""
        started = time.perf_counter()
        response = await self.client.get(f"/4/tasks/{task_id}/result", timeout=300.0)
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET /4/tasks/{task_id}/result -> {response.status_code}")
        result = response.json()
        ids = result.get("removed_ids") or []
        if result.get("removed_count") != rows or len(set(ids)) != rows:
            raise RuntimeError(f"{label}: result of task {task_id} does not list {rows} rows")
        stored = await self.stored_bytes(task_id)
        return {
            "ids": len(ids),
            "text_bytes": len(response.content),
            "read_seconds": seconds,
            "stored_bytes": stored,
        }

    async def stored_bytes(self, task_id: int) -> int:
        conn = await connect("bench")
        try:
            return int(
                await conn.fetchval(
                    "SELECT coalesce(sum(pg_column_size(p.ids)), 0) FROM subtask_result_part p "
                    "JOIN subtask s ON s.subtask_id = p.subtask_id WHERE s.task_id = $1",
                    task_id,
                )
            )
        finally:
            await conn.close()

    async def cancel(self, task_id: int) -> None:
        response = await self.client.patch(f"/4/tasks/{task_id}")
        if response.status_code != 204:
            raise RuntimeError(f"PATCH /4/tasks/{task_id} -> {response.status_code}")


@dataclass
class Waited:
    task: dict[str, Any]
    seconds: float
    """From `since` until the poll that saw the task end."""
    all_parts_seconds: float | None
    """From `since` until a poll saw every part done (before the result was collected)."""


async def wait_task(api: Api, task_id: int, since: float) -> Waited:
    """Poll the task every POLL_SECONDS until it ends (bounded by TASK_TIMEOUT)."""
    all_parts: float | None = None
    while True:
        task = await api.task(task_id)
        now = time.perf_counter()
        parts_done = task["count_task_parts_done"] >= task["count_task_parts_all"]
        if all_parts is None and parts_done:
            all_parts = now - since
        if task["task_status"] in TERMINAL:
            return Waited(task, now - since, all_parts)
        if now - since > TASK_TIMEOUT:
            raise RuntimeError(f"task {task_id} not finished after {TASK_TIMEOUT:.0f} s: {task}")
        await asyncio.sleep(POLL_SECONDS)


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One measured GC: the service's, or the plain DELETE."""

    label: str
    seconds: float
    rows: int
    load: str
    usage: Usage
    timeline: dict[str, Any] = field(default_factory=dict)
    """From the task's rows: parts, batches, claim delay, result collection..."""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def disturbed(self) -> bool:
        """Some of the task's subtasks were run by workers this bench did not start."""
        return bool(self.timeline.get("foreign"))

    def line(self) -> str:
        return (
            f"{self.label:<28} {self.rows:>9,} rows in {self.seconds:6.2f} s = "
            f"{self.rate:>9,.0f} rows/s  (load {self.load})"
        )


PYTHON_WORKERS = "python: worker processes"
PYTHON_SERVICE = "python: service (HTTP)"
PYTHON_BENCH = "python: this bench"


async def run_baseline(python_pids: dict[str, list[int]]) -> Run:
    """One plain `DELETE FROM descriptor WHERE descriptor_version = 56`, committed."""
    conn = await connect("bench-delete")
    try:
        async with Sampler(python_pids) as sampler:
            started = time.perf_counter()
            status = await conn.execute(DELETE_SQL)
            seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return Run("plain DELETE", seconds, int(status.split()[-1]), util.load_average(), sampler.usage)


async def run_service_gc(
    api: Api,
    conn: asyncpg.Connection,
    label: str,
    *,
    store_results: bool,
    python_pids: dict[str, list[int]],
) -> Run:
    """POST a GC of v56 and time it from the POST until a poll sees task_status 5."""
    before = await count_version(conn)
    async with Sampler(python_pids) as sampler:
        started = time.perf_counter()
        task_id = await api.create_gc(store_results)
        waited = await wait_task(api, task_id, started)
    after = await count_version(conn)
    if waited.task["task_status"] != DONE:
        raise RuntimeError(f"{label}: task {task_id} ended with status {waited.task}")
    if after != 0:
        raise RuntimeError(f"{label}: task {task_id} done but {after:,} v{GONE} rows remain")
    timeline = await task_timeline(conn, task_id)
    # Another process serving the same database (a `luna-admin serve` with
    # in-process workers, another bench's workers) may claim subtasks of ours.
    ours = set(python_pids.get(PYTHON_WORKERS, []))
    timeline["foreign"] = {
        row["worker_id"]: row["parts"]
        for row in await conn.fetch(
            "SELECT worker_id, count(*) AS parts FROM subtask WHERE task_id = $1 GROUP BY 1",
            task_id,
        )
        if _worker_pid(row["worker_id"]) not in ours
    }
    # The task's end_time is now() of the transaction that collects the result,
    # i.e. when collecting started: the collection's length shows only in the
    # polls (every part done, status not yet 5).
    if waited.all_parts_seconds is not None:
        timeline["collect"] = waited.seconds - waited.all_parts_seconds
    if store_results:
        timeline["result"] = await api.result_check(task_id, before, label)
    return Run(label, waited.seconds, before - after, util.load_average(), sampler.usage, timeline)


def _worker_pid(worker_id: str | None) -> int | None:
    """The pid in a worker id (`host:pid:random`, webapp.tasks.worker.new_worker_id)."""
    try:
        return int((worker_id or "").rsplit(":", 2)[1])
    except (IndexError, ValueError):
        return None


async def task_timeline(conn: asyncpg.Connection, task_id: int) -> dict[str, Any]:
    """How the task's time went, from its own rows (server clock)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS parts,
               extract(epoch FROM t.end_time - t.create_time)::float8 AS server_seconds,
               extract(epoch FROM min(s.start_time) - t.create_time)::float8 AS first_claim,
               sum((s.progress->>'batches')::int) AS batches,
               sum((s.progress->>'handled')::bigint) AS handled,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY
                   extract(epoch FROM s.end_time - s.start_time)
                   / nullif((s.progress->>'batches')::int, 0)) AS batch_seconds,
               count(DISTINCT s.worker_id) AS workers
        FROM task t JOIN subtask s ON s.task_id = t.task_id
        WHERE t.task_id = $1 GROUP BY t.task_id
        """,
        task_id,
    )
    timeline = dict(row) if row else {}
    # Each worker's first claim and last end, from the task's creation: with
    # several workers, the start skew and the tail (one worker out of
    # subtasks while another still runs) are time the workers did not overlap.
    spans = await conn.fetch(
        "SELECT extract(epoch FROM min(s.start_time) - t.create_time)::float8 AS first, "
        "extract(epoch FROM max(s.end_time) - t.create_time)::float8 AS last "
        "FROM subtask s JOIN task t ON t.task_id = s.task_id WHERE s.task_id = $1 "
        "GROUP BY s.worker_id, t.create_time",
        task_id,
    )
    spans = [span for span in spans if span["first"] is not None and span["last"] is not None]
    if len(spans) > 1:
        timeline["worker_spans"] = [(float(s["first"]), float(s["last"])) for s in spans]
        timeline["skew"] = max(s["first"] for s in spans) - min(s["first"] for s in spans)
        timeline["tail"] = max(s["last"] for s in spans) - min(s["last"] for s in spans)
    return timeline


def timeline_line(run: Run) -> str:
    t = run.timeline
    if not t:
        return ""
    text = (
        f"  task: {t['parts']} parts, {t['batches']} batches (median "
        f"{1000 * (t['batch_seconds'] or 0):.0f} ms each), first claim "
        f"{t['first_claim']:.2f} s after creation, end - create {t['server_seconds']:.2f} s"
    )
    if (t.get("collect") or 0.0) >= 0.05:
        text += f", every part done {t['collect']:.2f} s before status 5 (polls)"
    if "worker_spans" in t:
        spans = " / ".join(f"{first:.2f}-{last:.2f}" for first, last in t["worker_spans"])
        text += f", workers busy {spans} s (start skew {t['skew']:.2f} s, tail {t['tail']:.2f} s)"
    if t.get("foreign"):
        text += (
            f"\n  WARNING: parts run by workers this bench did not start {t['foreign']}: "
            "another process works on the bench database; this run does not count"
        )
    if "result" in t:
        r = t["result"]
        text += (
            f"; result: {r['ids']:,} ids, {r['text_bytes'] / 1e6:.0f} MB as JSON, read in "
            f"{r['read_seconds']:.1f} s (after the run), {r['stored_bytes'] / 1e6:.0f} MB stored"
        )
    return text


# --------------------------------------------------------------------------- sampler


@dataclass
class Usage:
    """What the machine and PostgreSQL did during one run."""

    wall: float
    cpu: dict[str, float]
    """CPU seconds by role (see `_pg_role` and the PYTHON_* roles)."""
    busy: float
    """CPU seconds the whole machine spent (all processes, /proc/stat)."""
    ncpu: int
    local: bool
    """PostgreSQL runs on this machine (its processes' CPU is known)."""
    states: dict[str, collections.Counter[str]]
    """Per group of connections: what each sample found it doing."""
    lock_samples: int
    """Samples that found an ungranted lock (pg_locks) in this database."""
    lock_kinds: collections.Counter[str]
    samples: int
    wal: dict[str, float]
    checkpoints: int
    psi_cpu: float | None
    """Share of the run during which some runnable task waited for a CPU."""
    psi_io: float | None
    autovacuum: int
    """Samples that saw autovacuum working on the descriptor table."""
    strangers: int
    """Most connections to the bench database at once that were not this bench's."""

    OTHERS = ("postgres: other databases", "postgres: other clients")

    def ours(self) -> float:
        """CPU seconds of the bench's own processes (PostgreSQL's included)."""
        return sum(seconds for role, seconds in self.cpu.items() if role not in self.OTHERS)

    def others(self) -> float:
        """CPU seconds of everybody else: other processes and other databases' backends."""
        return self.busy - self.ours()

    def cores(self, seconds: float) -> float:
        return seconds / self.wall

    def share(self, group: str, label_prefix: str = "") -> float:
        counter = self.states.get(group, collections.Counter())
        total = sum(counter.values())
        if not total:
            return 0.0
        return sum(n for label, n in counter.items() if label.startswith(label_prefix)) / total


PG_WORKERS = "postgres: worker connections"
PG_DELETE = "postgres: baseline DELETE"
PG_AUX = "postgres: WAL writer/checkpointer/bgwriter"
PG_AUTOVACUUM = "postgres: autovacuum"

ACTIVITY_SQL = """
SELECT pid, datname, backend_type, application_name, state, wait_event_type, wait_event,
       CASE WHEN backend_type = 'autovacuum worker' THEN left(query, 100) END AS query
FROM pg_stat_activity WHERE pid <> pg_backend_pid()
"""
LOCKS_SQL = """
SELECT l.locktype || ' ' || l.mode AS kind, count(*) AS n
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND a.datname = current_database() GROUP BY 1
"""
WAL_SQL = """
SELECT wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync,
       (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS checkpoints
FROM pg_stat_wal
"""


def _pg_role(row: asyncpg.Record, database: str) -> str:
    app = row["application_name"] or ""
    kind = row["backend_type"]
    if kind in ("walwriter", "checkpointer", "background writer"):
        return PG_AUX
    if row["datname"] is not None and row["datname"] != database:
        return "postgres: other databases"
    if kind == "autovacuum worker":
        return PG_AUTOVACUUM
    if kind != "client backend":
        return "postgres: other"
    if app.startswith("bench-worker"):
        return PG_WORKERS
    if app == "bench-delete":
        return PG_DELETE
    if app == "bench-serve":
        return "postgres: service connections"
    if app.startswith("bench"):
        return "postgres: bench polling and sampling"
    return "postgres: other clients"


def _group(row: asyncpg.Record) -> str | None:
    """The connections whose activity is tallied: each worker process's, the DELETE's."""
    app = row["application_name"] or ""
    if app.startswith("bench-worker"):
        return "workers"
    if app == "bench-delete":
        return "baseline"
    return None


def _state(rows: list[asyncpg.Record]) -> str:
    """What one process's connections were doing at one instant."""
    active = [row for row in rows if row["state"] == "active"]
    if active:
        row = active[0]
        if row["wait_event_type"] is None:
            return "in PostgreSQL: on CPU"
        return f"in PostgreSQL: waiting {row['wait_event_type']}:{row['wait_event']}"
    if any((row["state"] or "").startswith("idle in transaction") for row in rows):
        return "client side: inside a transaction"
    return "client side: between transactions"


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) of a process, None once it is gone."""
    try:
        return util.cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def _parent(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return None
    return int(fields[1])


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq + steal
    return busy / tick, (busy + idle + iowait) / tick


def _pressure(kind: str) -> float | None:
    """Total microseconds some task stalled on `kind` (cpu, io), from /proc/pressure."""
    try:
        text = Path(f"/proc/pressure/{kind}").read_text()
    except OSError:
        return None
    found = re.search(r"^some .*total=(\d+)", text, re.MULTILINE)
    return int(found.group(1)) / 1e6 if found else None


class Sampler:
    """Samples the run every SAMPLE_SECONDS on a connection of its own."""

    def __init__(self, python_pids: dict[str, list[int]]) -> None:
        self.python = {pid: role for role, pids in python_pids.items() for pid in pids}
        self.python[os.getpid()] = PYTHON_BENCH
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.roles: dict[int, str] = {}
        self.states: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.lock_kinds: collections.Counter[str] = collections.Counter()
        self.lock_samples = 0
        self.samples = 0
        self.autovacuum = 0
        self.strangers = 0
        self._usage: Usage | None = None

    @property
    def usage(self) -> Usage:
        if self._usage is None:
            raise RuntimeError("the sampler has not finished")
        return self._usage

    async def __aenter__(self) -> Sampler:
        self.conn = await connect("bench-sampler")
        self.database = await self.conn.fetchval("SELECT current_database()")
        backend = int(await self.conn.fetchval("SELECT pg_backend_pid()"))
        postmaster = _parent(backend)
        self.local = postmaster is not None
        if postmaster is not None:
            self.roles[postmaster] = "postgres: other"
            self.roles[backend] = "postgres: bench polling and sampling"
        self.wal = dict(await self.conn.fetchrow(WAL_SQL))
        self.psi = (_pressure("cpu"), _pressure("io"))
        self.machine = _machine()
        self.started = time.perf_counter()
        await self._sample(initial=True)
        self.task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        try:
            await self._sample(initial=False, tally=False)
            self._usage = await self._finish()
        finally:
            await self.conn.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            await self._sample(initial=False)

    async def _sample(self, *, initial: bool, tally: bool = True) -> None:
        rows = await self.conn.fetch(ACTIVITY_SQL)
        locks = await self.conn.fetch(LOCKS_SQL)
        groups: dict[str, list[asyncpg.Record]] = collections.defaultdict(list)
        strangers = 0
        for row in rows:
            self.roles[row["pid"]] = _pg_role(row, self.database)
            if tally and row["datname"] == self.database and "descriptor" in (row["query"] or ""):
                self.autovacuum += 1
            strangers += self.roles[row["pid"]] == "postgres: other clients"
            group = _group(row)
            if group is not None:
                groups[f"{group}:{row['application_name']}"].append(row)
        self.strangers = max(self.strangers, strangers)
        if tally and not initial:
            self.samples += 1
            for key, members in groups.items():
                self.states[key.split(":", 1)[0]][_state(members)] += 1
            if locks:
                self.lock_samples += 1
                for lock in locks:
                    self.lock_kinds[lock["kind"]] += lock["n"]
        pids = dict(self.roles) if self.local else {}
        pids.update(self.python)
        for pid in pids:
            cpu = _proc_cpu(pid)
            if cpu is None:
                continue
            if pid not in self.first:
                # A process born during the run counts from zero.
                self.first[pid] = cpu if initial else 0.0
            self.last[pid] = cpu

    async def _finish(self) -> Usage:
        wall = time.perf_counter() - self.started
        wal = dict(await self.conn.fetchrow(WAL_SQL))
        busy = _machine()[0] - self.machine[0]
        cpu: dict[str, float] = collections.defaultdict(float)
        for pid, last in self.last.items():
            role = self.python.get(pid) or self.roles.get(pid, "postgres: other")
            cpu[role] += last - self.first[pid]
        psi = [
            None if before is None or after is None else (after - before) / wall
            for before, after in zip(self.psi, (_pressure("cpu"), _pressure("io")), strict=True)
        ]
        return Usage(
            wall=wall,
            cpu=dict(cpu),
            busy=busy,
            ncpu=os.cpu_count() or 1,
            local=self.local,
            states=dict(self.states),
            lock_samples=self.lock_samples,
            lock_kinds=self.lock_kinds,
            samples=self.samples,
            wal={key: float(wal[key] - self.wal[key]) for key in wal},
            checkpoints=int(wal["checkpoints"] - self.wal["checkpoints"]),
            psi_cpu=psi[0],
            psi_io=psi[1],
            autovacuum=self.autovacuum,
            strangers=self.strangers,
        )


# --------------------------------------------------------------------------- reporting


def usage_lines(usage: Usage, rows: int) -> list[str]:
    """CPU by process (seconds, cores, microseconds per row), pressure, waits, WAL."""
    lines = [f"  CPU over {usage.wall:.1f} s on {usage.ncpu} CPUs (seconds, cores, us per row):"]
    if not usage.local:
        lines.append("    (PostgreSQL is not on this machine: its processes' CPU is unknown)")
    for role, seconds in sorted(usage.cpu.items(), key=lambda item: -item[1]):
        if seconds >= 0.05:
            lines.append(
                f"    {role:<44} {seconds:6.1f} s  {usage.cores(seconds):4.2f}"
                f"  {1e6 * seconds / max(rows, 1):6.1f} us"
            )
    lines.append(
        f"    {'machine busy (everything)':<44} {usage.busy:6.1f} s  {usage.cores(usage.busy):4.2f}"
        f"  -> others (not this bench) {usage.cores(usage.others()):.2f} cores"
    )
    pressure = []
    if usage.psi_cpu is not None:
        pressure.append(f"a runnable task waited for a CPU {usage.psi_cpu:.0%} of the time")
    if usage.psi_io is not None:
        pressure.append(f"for IO {usage.psi_io:.0%}")
    if pressure:
        lines.append("  pressure: " + ", ".join(pressure))
    for group, counter in usage.states.items():
        total = sum(counter.values())
        parts = ", ".join(f"{label} {n / total:.0%}" for label, n in counter.most_common(6))
        lines.append(f"  {group} connections ({total} samples): {parts}")
    locks = ", ".join(f"{kind} x{n}" for kind, n in usage.lock_kinds.most_common(4))
    lines.append(
        f"  ungranted locks (pg_locks): in {usage.lock_samples} of {usage.samples} samples"
        + (f" ({locks})" if locks else "")
    )
    wal = usage.wal
    lines.append(
        f"  WAL: {wal['wal_bytes'] / 1e6:,.0f} MB, {wal['wal_records']:,.0f} records, "
        f"{wal['wal_fpi']:,.0f} full-page images, {wal['wal_buffers_full']:,.0f} writes "
        f"because wal_buffers was full; {usage.checkpoints} checkpoint(s)"
        + (f"; autovacuum on descriptor in {usage.autovacuum} samples" if usage.autovacuum else "")
    )
    if usage.strangers:
        lines.append(
            f"  WARNING: up to {usage.strangers} connection(s) to the bench database that are "
            "not this bench's (another bench or service shares it)"
        )
    return lines


def cpu_per_row(usage: Usage, rows: int, *roles: str) -> float:
    """Microseconds of CPU per row spent by `roles` (all of ours when none given)."""
    seconds = sum(usage.cpu.get(role, 0.0) for role in roles) if roles else usage.ours()
    return 1e6 * seconds / max(rows, 1)


def pg_cpu(usage: Usage) -> float:
    """CPU seconds of PostgreSQL working for the bench (not other databases)."""
    return sum(
        seconds
        for role, seconds in usage.cpu.items()
        if role.startswith("postgres:") and role not in Usage.OTHERS
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def cores_used(run: Run) -> float:
    """Cores the bench's own processes (PostgreSQL's included) kept busy during the run."""
    return run.usage.ours() / run.seconds


def ratio_factors(figure: Run, base: Run) -> tuple[float, float]:
    """figure.rate / base.rate as (CPU-per-row factor, cores-used factor).

    rate = cores used / CPU per row, so the ratio of two rates is exactly the
    product of these two factors: a ratio below target is either more CPU
    spent per row, or fewer cores kept busy (waiting, idle, or CPUs taken by
    other work), or both.
    """
    per_row = cpu_per_row(base.usage, base.rows) / cpu_per_row(figure.usage, figure.rows)
    return per_row, cores_used(figure) / cores_used(base)


def ratio_line(figure: Run, base: Run) -> str:
    per_row, cores = ratio_factors(figure, base)
    return (
        f"{figure.rate / base.rate:.2f} = CPU per row {cpu_per_row(base.usage, base.rows):.1f}"
        f" -> {cpu_per_row(figure.usage, figure.rows):.1f} us (x{per_row:.2f})"
        f"  times  cores kept busy {cores_used(base):.2f} -> {cores_used(figure):.2f}"
        f" (x{cores:.2f})"
    )
