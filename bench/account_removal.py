"""Bench 16: removing an account that owns a million faces, against one plain
`DELETE ... CASCADE` of the same data.

Each side gets an account of its own, seeded the same way in the same run
(`luna-admin seed --account-id`, set-based, then VACUUM ANALYZE and CHECKPOINT):
by default 1,000,000 faces, two descriptors each (2,000,000), an attribute for
half of them (about 500,000), 100,000 events, and 3 lists of 100,000 faces.

- Baseline: `DELETE FROM account WHERE account_id = $1`, one statement, on the
  migrated schema, whose every foreign key has its index (the "properly
  indexed" cascade); the counter triggers run in it as they run in the service.
- Service: `DELETE /4/accounts/{id}` on a `luna-admin serve` (WORKERS_IN_PROCESS=0);
  one `luna-admin worker --concurrency 1` removes the rows. Timed: the 204, and
  until the account row is gone (the last thing the removal deletes), polled
  every 0.25 s. While it runs, GET /4/luna_sys_info and GET /4/accounts are
  timed once each (they leave the account out from the 204 on).

Target: the service's rows/s at least 50% of the DELETE's, the 204 within 2 s.
`BENCH_REMOVAL_FACES` scales the data (the others follow it), `BENCH_REMOVAL_ROUNDS`
the rounds (default 1: two seeds of 4 million rows per round). Run it alone
(`BENCH_ONLY=removal`): its worker would run any other pending task.

    python -m bench.account_removal
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import gc_common, util
from bench.gc_common import PG_DELETE, PG_WORKERS, PYTHON_SERVICE, PYTHON_WORKERS, Run

FACES = int(os.environ.get("BENCH_REMOVAL_FACES", "1000000"))
ROUNDS = int(os.environ.get("BENCH_REMOVAL_ROUNDS", "1"))
TARGET = 0.5
ANSWER_TARGET_SECONDS = 2.0
LOGIN_PREFIX = "bench-removal-"
BASELINE = "plain DELETE ... CASCADE"
SERVICE = "DELETE /4/accounts/{id}"
POLL_SECONDS = 0.25
TIMEOUT_SECONDS = 3600.0


def seed_args(account_id: str) -> list[str]:
    """The issue's account: F faces, 2F descriptors, F/2 attributes, F/10 events."""
    return [
        "seed",
        "--account-id",
        account_id,
        "--accounts",
        "0",
        "--faces",
        str(FACES),
        "--lists-per-account",
        "3",
        "--faces-per-list",
        str(max(FACES // 10, 1)),
        "--descriptor-versions",
        "56",
        "59",
        "--attributes",
        "0.5",
        "--events",
        str(max(FACES // 10, 1)),
    ]


OWNED_SQL = """
SELECT (SELECT count(*) FROM face WHERE account_id = $1) AS faces,
       (SELECT count(*) FROM descriptor d JOIN face f ON f.face_id = d.face_id
         WHERE f.account_id = $1) AS descriptors,
       (SELECT count(*) FROM face_attribute WHERE account_id = $1) AS attributes,
       (SELECT count(*) FROM event WHERE account_id = $1) AS events,
       (SELECT count(*) FROM sample WHERE account_id = $1) AS samples,
       (SELECT count(*) FROM list_face m JOIN list l ON l.list_id = m.list_id
         WHERE l.account_id = $1) AS memberships,
       (SELECT count(*) FROM list WHERE account_id = $1) AS lists,
       (SELECT count(*) FROM account WHERE account_id = $1) AS account
"""


@dataclass
class Removal:
    run: Run
    rows: dict[str, int]
    answer_seconds: float | None = None
    reads: dict[str, float] = field(default_factory=dict)


def main() -> list[util.Outcome]:
    util.heading(
        f"Removing an account of {FACES:,} faces, {2 * FACES:,} descriptors, "
        f"~{FACES // 2:,} attributes, {FACES // 10:,} events vs one plain DELETE ... CASCADE"
    )
    util.ensure_schema()
    asyncio.run(_prepare())
    with gc_common.service() as svc:
        removals = asyncio.run(_measure(svc))
    return _report(removals)


async def _prepare() -> None:
    """Refuse others' open tasks; drop what a broken run left (not timed)."""
    conn = await gc_common.connect()
    try:
        await _drop_leftovers(conn)
        open_tasks = await conn.fetchval("SELECT count(*) FROM task WHERE task_status IN (0, 1, 4)")
        if open_tasks:
            raise RuntimeError(
                f"{open_tasks} open task(s) in the bench database: the bench's worker would "
                "run them (cancel or delete them first)"
            )
    finally:
        await conn.close()


async def _drop_leftovers(conn: Any) -> None:
    await conn.execute(
        "DELETE FROM task WHERE content->>'target' = 'account' AND content->>'login' LIKE $1",
        f"{LOGIN_PREFIX}%",
    )
    await conn.execute("DELETE FROM account WHERE login LIKE $1", f"{LOGIN_PREFIX}%")


async def _seed(conn: Any, name: str) -> tuple[str, dict[str, int]]:
    login = f"{LOGIN_PREFIX}{name}-{uuid.uuid4().hex[:6]}@bench.test"
    account_id = str(
        await conn.fetchval(
            "INSERT INTO account (login, password_hash, account_type) "
            "VALUES ($1, 'x', 'user') RETURNING account_id",
            login,
        )
    )
    print(f"  seeding {login} ...", flush=True)
    started = time.perf_counter()
    await asyncio.to_thread(util.luna_admin, *seed_args(account_id))
    for table in ("face", "descriptor", "face_attribute", "event", "list_face", "list"):
        await conn.execute(f"VACUUM (ANALYZE) {table}")
    await conn.execute("CHECKPOINT")
    rows = dict(await conn.fetchrow(OWNED_SQL, uuid.UUID(account_id)))
    print(f"  seeded in {time.perf_counter() - started:.0f} s: {_rows_text(rows)}", flush=True)
    return account_id, rows


def _rows_text(rows: dict[str, int]) -> str:
    return ", ".join(f"{value:,} {name}" for name, value in rows.items() if name != "account")


def _total(rows: dict[str, int]) -> int:
    return sum(rows.values())


async def _measure(svc: util.Server) -> dict[str, list[Removal]]:
    conn = await gc_common.connect()
    http = httpx.AsyncClient(
        base_url=svc.url(""), headers=util.basic_auth(), timeout=60.0, trust_env=False
    )
    removals: dict[str, list[Removal]] = {BASELINE: [], SERVICE: []}
    try:
        async with gc_common.workers(1) as pids:
            python = {PYTHON_WORKERS: pids, PYTHON_SERVICE: [svc.pid]}
            for round_index in range(ROUNDS):
                order = (BASELINE, SERVICE) if round_index % 2 == 0 else (SERVICE, BASELINE)
                for side in order:
                    name = "baseline" if side == BASELINE else "service"
                    account_id, rows = await _seed(conn, f"{name}-{round_index + 1}")
                    if side == BASELINE:
                        removal = await _baseline(account_id, rows, python)
                    else:
                        removal = await _service(http, conn, account_id, rows, python)
                    left = dict(await conn.fetchrow(OWNED_SQL, uuid.UUID(account_id)))
                    if any(left.values()):
                        raise RuntimeError(f"{side}: rows left after the removal: {left}")
                    removals[side].append(removal)
                    _print_run(round_index, removal)
    finally:
        await http.aclose()
        await _drop_leftovers(conn)
        await conn.close()
    return removals


async def _baseline(account_id: str, rows: dict[str, int], python: dict[str, list[int]]) -> Removal:
    conn = await gc_common.connect("bench-delete")
    try:
        async with gc_common.Sampler(python) as sampler:
            started = time.perf_counter()
            await conn.execute("DELETE FROM account WHERE account_id = $1", uuid.UUID(account_id))
            seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return Removal(Run(BASELINE, seconds, _total(rows), util.load_average(), sampler.usage), rows)


async def _service(
    http: httpx.AsyncClient,
    conn: Any,
    account_id: str,
    rows: dict[str, int],
    python: dict[str, list[int]],
) -> Removal:
    uid = uuid.UUID(account_id)
    reads: dict[str, float] = {}
    # For scale: the same read before the removal (it counts every descriptor).
    read_started = time.perf_counter()
    await http.get("/4/luna_sys_info")
    reads["GET /4/luna_sys_info before the removal"] = time.perf_counter() - read_started
    async with gc_common.Sampler(python) as sampler:
        started = time.perf_counter()
        response = await http.delete(f"/4/accounts/{account_id}")
        answered = time.perf_counter() - started
        if response.status_code != 204:
            raise RuntimeError(f"DELETE /4/accounts -> {response.status_code}: {response.text}")
        for label, path in (
            ("GET /4/luna_sys_info", "/4/luna_sys_info"),
            ("GET /4/accounts?page_size=100", "/4/accounts?page_size=100"),
            ("GET /4/accounts/{id} (404)", f"/4/accounts/{account_id}"),
        ):
            read_started = time.perf_counter()
            read = await http.get(path)
            reads[label] = time.perf_counter() - read_started
            if label.endswith("(404)") != (read.status_code == 404):
                raise RuntimeError(f"{path} during the removal -> {read.status_code}")
        deadline = started + TIMEOUT_SECONDS
        while await conn.fetchval("SELECT 1 FROM account WHERE account_id = $1", uid):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"account {account_id} still there after {TIMEOUT_SECONDS} s")
            await asyncio.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
    timeline = await _timeline(conn, uid)
    run = Run(SERVICE, seconds, _total(rows), util.load_average(), sampler.usage, timeline)
    return Removal(run, rows, answered, reads)


async def _timeline(conn: Any, account_id: uuid.UUID) -> dict[str, Any]:
    """Per table: parts, batches, seconds from the first start to the last end."""
    task = await conn.fetchrow(
        "SELECT task_id, task_status, extract(epoch FROM end_time - create_time)::float8 AS s "
        "FROM task WHERE account_id = $1 AND content->>'target' = 'account' "
        "ORDER BY task_id DESC LIMIT 1",
        account_id,
    )
    phases = await conn.fetch(
        "SELECT content->>'table' AS name, count(*) AS parts, "
        "sum((progress->>'batches')::int) AS batches, "
        "sum((progress->>'handled')::bigint) AS handled, "
        "extract(epoch FROM max(end_time) - min(start_time))::float8 AS seconds, "
        "min(subtask_id) AS first FROM subtask WHERE task_id = $1 GROUP BY 1 ORDER BY first",
        task["task_id"],
    )
    return {
        "task_id": task["task_id"],
        "status": task["task_status"],
        "server_seconds": task["s"],
        "phases": [dict(row) for row in phases],
    }


def _print_run(round_index: int, removal: Removal) -> None:
    run = removal.run
    print(f"  round {round_index + 1}: {run.line()}", flush=True)
    if removal.answer_seconds is not None:
        print(f"    204 after {removal.answer_seconds:.3f} s", flush=True)
        for label, seconds in removal.reads.items():
            when = "" if "before" in label else "during the removal: "
            print(f"    {when}{label} in {seconds:.3f} s", flush=True)
    if run.timeline:
        t = run.timeline
        print(
            f"    task {t['task_id']} status {t['status']}, create to end "
            f"{t['server_seconds'] or 0:.1f} s",
            flush=True,
        )
        for phase in t["phases"]:
            print(
                f"    {phase['name']:<15} {phase['parts']:>3} parts {phase['batches'] or 0:>5} "
                f"batches {phase['handled'] or 0:>10,} rows {phase['seconds'] or 0:8.1f} s",
                flush=True,
            )
    for line in gc_common.usage_lines(run.usage, run.rows):
        print(f"  {line}", flush=True)


def _report(removals: dict[str, list[Removal]]) -> list[util.Outcome]:
    ours, base = removals[SERVICE], removals[BASELINE]
    ratios = [a.run.rate / b.run.rate for a, b in zip(ours, base, strict=True)]
    ratio = gc_common.median(ratios)
    rate = gc_common.median([r.run.rate for r in ours])
    base_rate = gc_common.median([r.run.rate for r in base])
    answer = max(r.answer_seconds or 0.0 for r in ours)
    rows = ours[0].rows
    rate_outcome = util.Outcome(
        name="18 account removal",
        figure=f"{rate:,.0f} rows/s",
        baseline=f"{base_rate:,.0f} rows/s DELETE",
        ratio=f"{ratio:.0%}",
        target=f">= {TARGET:.0%}",
        met=ratio >= TARGET,
    )
    answer_outcome = util.Outcome(
        name="18b removal: the 204",
        figure=f"{answer:.2f} s",
        baseline="-",
        ratio="-",
        target=f"<= {ANSWER_TARGET_SECONDS:.0f} s",
        met=answer <= ANSWER_TARGET_SECONDS,
    )
    run, base_run = ours[0].run, base[0].run
    lines = [
        f"data per side: {_rows_text(rows)} ({_total(rows):,} rows)",
        f"{SERVICE}: until every row is gone "
        + ", ".join(f"{r.run.seconds:.1f} s" for r in ours)
        + f"; {BASELINE}: "
        + ", ".join(f"{r.run.seconds:.1f} s" for r in base),
        "per round: " + ", ".join(f"{r:.0%}" for r in ratios),
        "round 1: ratio " + gc_common.ratio_line(run, base_run),
        f"CPU per row: DELETE's backend "
        f"{gc_common.cpu_per_row(base_run.usage, base_run.rows, PG_DELETE):.1f} us; service: "
        f"worker backends {gc_common.cpu_per_row(run.usage, run.rows, PG_WORKERS):.1f} us + "
        f"worker Python {gc_common.cpu_per_row(run.usage, run.rows, PYTHON_WORKERS):.1f} us",
        f"time to the 204: {', '.join(f'{r.answer_seconds:.3f} s' for r in ours)}",
        f"load average now: {util.load_average()}",
    ]
    util.print_block("18. Account removal vs a plain DELETE ... CASCADE", lines, rate_outcome)
    return [rate_outcome, answer_outcome]


if __name__ == "__main__":
    main()
