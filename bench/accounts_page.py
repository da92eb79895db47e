"""Target 1: GET /4/accounts?page_size=100 over 100,000 accounts.

The service (Basic auth, request id, negotiation, the counter table) against
a bare Litestar + asyncpg handler running the naive page + count(*) query on
the same database, without auth. Target: at least 2x the baseline.

    python -m bench.accounts_page
"""

from __future__ import annotations

from bench import util

TARGET_RATIO = 2.0
PATH = "/4/accounts?page_size=100"


def main() -> util.Outcome:
    util.heading("accounts page: service vs bare Litestar + naive count(*)")
    accounts = util.ensure_accounts()
    service_port, baseline_port = util.free_port(), util.free_port()
    with (
        util.serve("service", util.service_command(service_port), service_port, "/version") as svc,
        util.serve(
            "baseline-accounts",
            util.baseline_command("accounts_app", baseline_port),
            baseline_port,
            PATH,
        ) as base,
    ):
        service = util.Probe("service (Basic auth)", svc.url(PATH), util.basic_auth(), svc.pid)
        baseline = util.Probe("bare Litestar, naive query", base.url(PATH), pid=base.pid)
        _check_pages(service, baseline)
        results = util.alternate([service, baseline])
    return util.throughput_outcome(
        results,
        service,
        baseline,
        name="1 accounts page",
        title="1. GET /4/accounts?page_size=100",
        target=TARGET_RATIO,
        as_multiple=True,
        context=[f"accounts in the database: {accounts:,}"],
    )


def _check_pages(service: util.Probe, baseline: util.Probe) -> None:
    """Both must answer a full page, or the comparison means nothing."""
    for probe in (service, baseline):
        body = util.expect_ok(probe.url, probe.headers).json()
        if len(body["accounts"]) != 100:
            raise RuntimeError(f"{probe.label}: {len(body['accounts'])} accounts, expected 100")


if __name__ == "__main__":
    main()
