"""Run every bench in order and print a summary table.

    DATABASE_URL=... python -m bench.run_all      (or: make bench)
    BENCH_ONLY=gc python -m bench.run_all         (only the task-engine GC benches)
    BENCH_ONLY=http python -m bench.run_all       (only the HTTP benches, 1-5, 13 and 17)
    BENCH_ONLY=extract python -m bench.run_all    (only the extraction benches, 9 and 14)
    BENCH_ONLY=workers python -m bench.run_all    (only the wake-up latency, 15)
    BENCH_ONLY=schedules python -m bench.run_all  (only the task schedule benches, 10-12 and 16)
    BENCH_ONLY=removal python -m bench.run_all    (only the account removal, 18)
    BENCH_ONLY=gc_cancel,version python -m bench.run_all

BENCH_ONLY takes a comma-separated list of groups (http, gc, extract, schedules, workers,
removal) and module names.
A bench that fails (a server that does not start, a wrong answer) is reported
as an error in the table; the others still run.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType

from bench import (
    account_removal,
    account_stats,
    accounts_page,
    basic_vs_cookie,
    extract_overhead,
    extract_sparse,
    flood,
    gc_cancel,
    gc_common,
    gc_scaling,
    gc_throughput,
    memory,
    route_stats,
    schedules_fire,
    schedules_memory,
    schedules_preview,
    schedules_start,
    util,
    version,
    wakeup,
)

Bench = Callable[[], util.Outcome | list[util.Outcome]]

# (name in the table, group, module): a module's main() returns one outcome or several.
BENCHES: list[tuple[str, str, ModuleType]] = [
    ("1 accounts page", "http", accounts_page),
    ("2 /version", "http", version),
    ("3 Basic vs cookie", "http", basic_vs_cookie),
    ("4 1M-face account", "http", account_stats),
    ("5 idle memory", "http", memory),
    ("6 GC throughput", "gc", gc_throughput),
    ("7 GC cancel", "gc", gc_cancel),
    ("8 GC, 2 workers", "gc", gc_scaling),
    ("9 extraction overhead", "extract", extract_overhead),
    ("10 leader start", "schedules", schedules_start),
    ("11 fire lateness", "schedules", schedules_fire),
    ("12 leader memory", "schedules", schedules_memory),
    ("13 route stats", "http", route_stats),
    ("14 sparse extraction", "extract", extract_sparse),
    ("15 wake-up latency", "workers", wakeup),
    ("16 schedule preview", "schedules", schedules_preview),
    ("17 /version flooded", "http", flood),
    ("18 account removal", "removal", account_removal),
]


def selected() -> list[tuple[str, Bench]]:
    """The benches BENCH_ONLY asks for (all of them when it is unset)."""
    wanted = {word.strip() for word in os.environ.get("BENCH_ONLY", "").split(",") if word.strip()}
    known = {group for _, group, _ in BENCHES} | {short(module) for _, _, module in BENCHES}
    if wanted - known:
        sys.exit(f"BENCH_ONLY: unknown {sorted(wanted - known)}; known: {sorted(known)}")
    return [
        (name, module.main)
        for name, group, module in BENCHES
        if not wanted or group in wanted or short(module) in wanted
    ]


def short(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


COLUMNS = ("bench", "figure", "baseline", "ratio", "target", "met")
WIDTHS = (20, 20, 22, 7, 9, 5)


def run(name: str, bench: Bench) -> list[util.Outcome]:
    try:
        outcome = bench()
    except Exception as error:  # one broken bench must not hide the others' figures
        traceback.print_exc()
        return [util.Outcome(name, "error", "-", "-", "-", met=False, note=str(error)[:200])]
    return outcome if isinstance(outcome, list) else [outcome]


def row(cells: tuple[str, ...]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, WIDTHS, strict=True))


def print_summary(outcomes: list[util.Outcome], elapsed: float) -> None:
    print("\nSUMMARY")
    print(row(COLUMNS))
    print(row(tuple("-" * width for width in WIDTHS)))
    for outcome in outcomes:
        met = "yes" if outcome.met else "NO"
        print(
            row(
                (outcome.name, outcome.figure, outcome.baseline, outcome.ratio, outcome.target, met)
            )
        )
    for outcome in outcomes:
        if outcome.note:
            print(f"note ({outcome.name}): {outcome.note}")
    print(f"load average at the end: {util.load_average()}")
    met_count = sum(outcome.met for outcome in outcomes)
    print(
        f"\n{met_count}/{len(outcomes)} targets met; the whole run took {elapsed:.0f} s "
        f"(wrk -t{util.WRK_THREADS} -c{util.WRK_CONNECTIONS}, {util.ROUNDS} rounds "
        f"x {util.SECONDS} s per side; GC benches: {gc_common.ROUNDS} rounds of each side)"
    )


def main() -> None:
    started = time.perf_counter()
    benches = selected()
    print(f"database: {util.masked(util.database_url())}", flush=True)
    print(f"load average at start: {util.load_average()}", flush=True)
    outcomes = [outcome for name, bench in benches for outcome in run(name, bench)]
    print_summary(outcomes, time.perf_counter() - started)


if __name__ == "__main__":
    main()
