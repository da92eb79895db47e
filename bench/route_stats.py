"""Target 13: the route statistics cost under 5% of the throughput of GET /version.

Two `luna-admin serve` processes on the same database, identical but for
ROUTE_STATS_ENABLED (1 and 0), loaded alternately in the same run. /version is
the cheapest route, so the fixed cost of counting (an observer adding one to a
dict entry per request, a flush every few seconds in the background) weighs
the most there. After the servers stop, the bench checks that every measured
request of the counting server reached the route_stat table (the last counts
are flushed at shutdown), so the figure is of statistics that really work.

    python -m bench.route_stats
"""

from __future__ import annotations

from bench import util

TARGET_RATIO = 0.95
ROUNDS = 5
ROUTE = "GET:/version"


def counted() -> int:
    rows = util.query("SELECT coalesce(sum(count), 0) AS n FROM route_stat WHERE route = $1", ROUTE)
    return int(rows[0]["n"])


def main() -> util.Outcome:
    util.heading("route_stats: GET /version with ROUTE_STATS_ENABLED=1 vs 0")
    util.ensure_schema()
    before = counted()
    on_port, off_port = util.free_port(), util.free_port()
    # No task workers, no scheduler: both processes do nothing but answer.
    quiet = {"WORKERS_IN_PROCESS": "0", "SCHEDULER_ENABLED": "0"}
    with (
        util.serve(
            "stats-on",
            util.service_command(on_port),
            on_port,
            "/version",
            env={**quiet, "ROUTE_STATS_ENABLED": "1"},
        ) as on,
        util.serve(
            "stats-off",
            util.service_command(off_port),
            off_port,
            "/version",
            env={**quiet, "ROUTE_STATS_ENABLED": "0"},
        ) as off,
    ):
        counting = util.Probe("statistics on", on.url("/version"), pid=on.pid)
        silent = util.Probe("statistics off", off.url("/version"), pid=off.pid)
        for probe in (counting, silent):
            util.expect_ok(probe.url)
        # The cost looked for is far below the noise of one throughput round on a
        # shared machine: more rounds give the median of the paired ratios a chance.
        results = util.alternate([counting, silent], rounds=max(util.ROUNDS, ROUNDS))
    measured = sum(result.requests for result in results[counting.label])
    arrived = counted() - before
    context = [
        f"requests counted in route_stat: {arrived:,} "
        f"(the counting server answered at least {measured:,} while measured)",
    ]
    outcome = util.throughput_outcome(
        results,
        counting,
        silent,
        name="13 route stats",
        title="13. GET /version: route statistics on vs off",
        target=TARGET_RATIO,
        as_multiple=False,
        context=context,
    )
    if arrived < measured:
        return util.Outcome(
            outcome.name,
            outcome.figure,
            outcome.baseline,
            outcome.ratio,
            outcome.target,
            met=False,
            note=f"only {arrived:,} of {measured:,} requests reached route_stat",
        )
    return outcome


if __name__ == "__main__":
    main()
