"""Run every bench in order and print a summary table.

    DATABASE_URL=... python -m bench.run_all      (or: make bench)

A bench that fails (a server that does not start, a wrong answer) is reported
as an error in the table; the others still run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from bench import account_stats, accounts_page, basic_vs_cookie, memory, util, version

BENCHES: list[tuple[str, Callable[[], util.Outcome]]] = [
    ("1 accounts page", accounts_page.main),
    ("2 /version", version.main),
    ("3 Basic vs cookie", basic_vs_cookie.main),
    ("4 1M-face account", account_stats.main),
    ("5 idle memory", memory.main),
]

COLUMNS = ("bench", "figure", "baseline", "ratio", "target", "met")
WIDTHS = (20, 20, 22, 7, 9, 5)


def run(name: str, bench: Callable[[], util.Outcome]) -> util.Outcome:
    try:
        return bench()
    except Exception as error:  # one broken bench must not hide the others' figures
        traceback.print_exc()
        return util.Outcome(name, "error", "-", "-", "-", met=False, note=str(error)[:200])


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
    met = sum(outcome.met for outcome in outcomes)
    print(
        f"\n{met}/{len(outcomes)} targets met; the whole run took {elapsed:.0f} s "
        f"(wrk -t{util.WRK_THREADS} -c{util.WRK_CONNECTIONS}, {util.ROUNDS} rounds "
        f"x {util.SECONDS} s per side)"
    )


def main() -> None:
    started = time.perf_counter()
    print(f"database: {util.masked(util.database_url())}", flush=True)
    print(f"load average at start: {util.load_average()}", flush=True)
    outcomes = [run(name, bench) for name, bench in BENCHES]
    print_summary(outcomes, time.perf_counter() - started)


if __name__ == "__main__":
    main()
