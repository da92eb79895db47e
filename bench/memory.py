"""Target 5: resident memory of an idle server after start and a few requests.

VmRSS of the `luna-admin serve` process (it is the uvicorn server itself),
read after startup, a handful of requests touching the main paths, and a
short idle. The bare Litestar + asyncpg baseline is measured the same way
for scale. Target: under 150 MB.

    python -m bench.memory
"""

from __future__ import annotations

import time

from bench import util

TARGET_MB = 150.0
IDLE_SECONDS = 2.0


def main() -> util.Outcome:
    util.heading("resident memory, idle")
    util.ensure_schema()
    service_mb = _service_rss()
    baseline_mb = _baseline_rss()
    return _report(service_mb, baseline_mb)


def _service_rss() -> float:
    port = util.free_port()
    with util.serve("service", util.service_command(port), port, "/version") as svc:
        account = util.admin_account_id()
        # One request per kind of work: public JSON, Basic auth (one argon2
        # verification), a page of accounts, one account with its stats.
        util.expect_ok(svc.url("/version"))
        util.expect_ok(svc.url("/4/accounts?page_size=100"), util.basic_auth())
        util.expect_ok(svc.url(f"/4/accounts/{account}"), util.basic_auth())
        return _idle_rss(svc)


def _baseline_rss() -> float:
    port = util.free_port()
    command = util.baseline_command("accounts_app", port)
    path = "/4/accounts?page_size=100"
    with util.serve("baseline-accounts", command, port, path) as base:
        util.expect_ok(base.url(path))
        return _idle_rss(base)


def _idle_rss(server: util.Server) -> float:
    time.sleep(IDLE_SECONDS)
    return util.rss_mb(server.pid)


def _report(service_mb: float, baseline_mb: float) -> util.Outcome:
    outcome = util.Outcome(
        name="5 idle memory",
        figure=f"{service_mb:.1f} MB RSS",
        baseline=f"{baseline_mb:.1f} MB (bare)",
        ratio=f"{service_mb / baseline_mb:.2f}x",
        target=f"< {TARGET_MB:.0f} MB",
        met=service_mb < TARGET_MB,
    )
    util.print_block(
        "5. Resident memory of the idle server",
        [
            f"luna-admin serve:          {service_mb:.1f} MB",
            f"bare Litestar + asyncpg:   {baseline_mb:.1f} MB",
        ],
        outcome,
    )
    return outcome


if __name__ == "__main__":
    main()
