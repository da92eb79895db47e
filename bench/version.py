"""Target 2: GET /version against a bare Litestar handler returning a constant.

/version is public, so this measures the fixed cost of the service's layers on
every request (request id, access log call, guard, exception plumbing).
Target: at least 60% of the baseline's throughput.

    python -m bench.version
"""

from __future__ import annotations

from bench import util

TARGET_RATIO = 0.60


def main() -> util.Outcome:
    util.heading("version: service vs bare Litestar constant")
    util.ensure_schema()
    service_port, baseline_port = util.free_port(), util.free_port()
    with (
        util.serve("service", util.service_command(service_port), service_port, "/version") as svc,
        util.serve(
            "baseline-version",
            util.baseline_command("version_app", baseline_port),
            baseline_port,
            "/version",
        ) as base,
    ):
        service = util.Probe("service /version", svc.url("/version"), pid=svc.pid)
        baseline = util.Probe("bare Litestar constant dict", base.url("/version"), pid=base.pid)
        for probe in (service, baseline):
            util.expect_ok(probe.url)
        results = util.alternate([service, baseline])
    return util.throughput_outcome(
        results,
        service,
        baseline,
        name="2 /version",
        title="2. GET /version",
        target=TARGET_RATIO,
        as_multiple=False,
    )


if __name__ == "__main__":
    main()
