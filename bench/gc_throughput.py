"""Target 6: GC of a million descriptors of one version, against one plain DELETE.

The task engine removes the million v56 descriptors (the million v59 ones in
the same table stay) in subtasks of SUBTASK_SIZE ids and batches of
GC_BATCH_SIZE rows, one transaction per batch with its ownership check and
progress. The baseline is what a DBA would type, `DELETE FROM descriptor
WHERE descriptor_version = 56`, one statement, on the same data in the same
run. Target: the service's throughput (rows/s, from the POST to a poll that
sees task_status 5) at least 80% of the DELETE's with store_results false, and
50% with store_results true (the task's result lists the million face ids,
read back once after the run through the result route and checked).

One `luna-admin worker --concurrency 1` process does the work; the task API
is a `luna-admin serve` with WORKERS_IN_PROCESS=0. Before every run the v56
rows are restored, the table vacuumed, analysed and checkpointed. Each round
runs the three sides in turn, the order flipped every round.

    python -m bench.gc_throughput          (BENCH_GC_ROUNDS=1 for a quicker run)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bench import gc_common, util
from bench.gc_common import PG_WORKERS, PYTHON_SERVICE, PYTHON_WORKERS, Run

TARGETS = {"6 GC throughput": 0.8, "6b GC, stored ids": 0.5}
"""Without results at least 80% of the DELETE's rows/s; with a million ids kept, 50%."""
BASELINE = "plain DELETE"
NO_IDS = "GC store_results=false"
WITH_IDS = "GC store_results=true"
SIDES = (BASELINE, NO_IDS, WITH_IDS)
DISTURBED = "NOT VALID: workers this bench did not start ran some parts; "


def main() -> list[util.Outcome]:
    util.heading("GC of 1M descriptors (v56, 1M v59 kept) vs one plain DELETE")
    gc_common.prepare_data()
    with gc_common.service() as svc:
        runs = asyncio.run(_measure(svc))
    return _report(runs)


async def _measure(svc: util.Server) -> dict[str, list[Run]]:
    conn = await gc_common.connect()
    api = gc_common.Api(svc)
    runs: dict[str, list[Run]] = {side: [] for side in SIDES}
    try:
        plan = await conn.fetch(f"EXPLAIN (COSTS OFF) {gc_common.DELETE_SQL}")
        print("  the DELETE's plan: " + " / ".join(row[0].strip() for row in plan), flush=True)
        async with gc_common.workers(1) as pids:
            python = {PYTHON_WORKERS: pids, PYTHON_SERVICE: [svc.pid]}
            for round_index in range(gc_common.ROUNDS):
                order = SIDES if round_index % 2 == 0 else tuple(reversed(SIDES))
                for side in order:
                    restored = await gc_common.restore(conn)
                    print(f"  (v56 rows restored, vacuumed, checkpointed: {restored:.0f} s)")
                    if side == BASELINE:
                        run = await gc_common.run_baseline(python)
                    else:
                        run = await gc_common.run_service_gc(
                            api, conn, side, store_results=side == WITH_IDS, python_pids=python
                        )
                    runs[side].append(run)
                    print(f"  round {round_index + 1}: {run.line()}", flush=True)
                    if run.timeline:
                        print(gc_common.timeline_line(run))
                    for line in gc_common.usage_lines(run.usage, run.rows):
                        print(f"  {line}")
    finally:
        await gc_common.close(api, conn)
    return runs


def _report(runs: dict[str, list[Run]]) -> list[util.Outcome]:
    base = runs[BASELINE]
    outcomes = []
    for name, side in (("6 GC throughput", NO_IDS), ("6b GC, stored ids", WITH_IDS)):
        target = TARGETS[name]
        ratios = [ours.rate / theirs.rate for ours, theirs in zip(runs[side], base, strict=True)]
        ratio = gc_common.median(ratios)
        rate = gc_common.median([run.rate for run in runs[side]])
        base_rate = gc_common.median([run.rate for run in base])
        disturbed = any(run.disturbed for run in runs[side])
        outcome = util.Outcome(
            name=name,
            figure=f"{rate:,.0f} rows/s",
            baseline=f"{base_rate:,.0f} rows/s DELETE",
            ratio=f"{ratio:.0%}",
            target=f">= {target:.0%}",
            met=ratio >= target and not disturbed,
            note=(DISTURBED if disturbed else "")
            + ("" if ratio >= target else _diagnosis(runs[side], base)),
        )
        lines = [
            f"{side}: {rate:,.0f} rows/s (median of {len(runs[side])}); "
            f"{BASELINE}: {base_rate:,.0f} rows/s",
            "per round: " + ", ".join(f"{r:.0%}" for r in ratios),
            *_explain(runs[side], base),
            f"load average now: {util.load_average()}",
        ]
        util.print_block(f"{name[:2].strip()}. {side} vs {BASELINE} (1M rows)", lines, outcome)
        outcomes.append(outcome)
    return outcomes


def _pair(ours: Sequence[Run], theirs: Sequence[Run]) -> tuple[Run, Run]:
    """The round whose ratio is closest to the median: the one the analysis describes."""
    ratios = [a.rate / b.rate for a, b in zip(ours, theirs, strict=True)]
    middle = gc_common.median(ratios)
    index = min(range(len(ratios)), key=lambda i: abs(ratios[i] - middle))
    return ours[index], theirs[index]


def _explain(ours: Sequence[Run], theirs: Sequence[Run]) -> list[str]:
    run, base = _pair(ours, theirs)
    usage = run.usage
    t = run.timeline
    index = list(ours).index(run)
    lines = [
        *(
            f"round {i + 1}: ratio " + gc_common.ratio_line(a, b)
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
        ),
        f"round {index + 1} in detail (its ratio is the closest to the median):",
        f"CPU per row: DELETE's backend "
        f"{gc_common.cpu_per_row(base.usage, base.rows, gc_common.PG_DELETE):.1f} us; "
        f"service: worker backends {gc_common.cpu_per_row(usage, run.rows, PG_WORKERS):.1f} us"
        f" + worker Python {gc_common.cpu_per_row(usage, run.rows, PYTHON_WORKERS):.1f} us"
        f" + the rest (WAL writer, checkpointer, service, polls) "
        f"{gc_common.cpu_per_row(usage, run.rows) - _known(usage, run.rows):.1f} us",
        f"worker connection: in PostgreSQL {usage.share('workers', 'in PostgreSQL'):.0%} "
        f"(on CPU {usage.share('workers', 'in PostgreSQL: on CPU'):.0%}), client side "
        f"{usage.share('workers', 'client side'):.0%} (Python, round trips, waiting for a CPU)",
    ]
    if t:
        batch = t["batch_seconds"] or 0.0
        lines.append(
            f"service time: {run.seconds:.2f} s = first claim {t['first_claim']:.2f} s + "
            f"{t['batches']} batches of ~{1000 * batch:.0f} ms + collection "
            f"{(t.get('collect') or 0.0):.2f} s + polling"
        )
    return lines


def _known(usage: gc_common.Usage, rows: int) -> float:
    return gc_common.cpu_per_row(usage, rows, PG_WORKERS, PYTHON_WORKERS)


def _diagnosis(ours: Sequence[Run], theirs: Sequence[Run]) -> str:
    run, base = _pair(ours, theirs)
    per_row, cores = gc_common.ratio_factors(run, base)
    t = run.timeline
    parts = [f"CPU/row x{1 / per_row:.1f} of the DELETE's, cores busy x{cores:.2f}"]
    if t and t.get("collect") and t["collect"] > 0.1 * run.seconds:
        parts.append(f"result collection {t['collect']:.1f} s of {run.seconds:.1f} s")
    client = run.usage.share("workers", "client side")
    if client > 0.3:
        parts.append(f"worker connection idle {client:.0%} (Python side)")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
