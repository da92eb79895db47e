"""Target 3: GET /4/accounts/{id} with Basic credentials on every request,
against the same request carrying the session cookie of POST /4/login.

Basic auth must not re-verify the argon2 hash each time (about 40 ms of CPU):
the credential cache should make it nearly as cheap as a session lookup.
Target: Basic at least 50% of the cookie's throughput. One server serves both.

    python -m bench.basic_vs_cookie
"""

from __future__ import annotations

from bench import util

TARGET_RATIO = 0.50


def main() -> util.Outcome:
    util.heading("Basic credentials vs session cookie")
    util.ensure_schema()
    port = util.free_port()
    with util.serve("service", util.service_command(port), port, "/version") as svc:
        path = f"/4/accounts/{util.admin_account_id()}"
        basic = util.Probe("Basic on every request", svc.url(path), util.basic_auth(), svc.pid)
        cookie = util.Probe("session cookie", svc.url(path), util.session_cookie(svc), svc.pid)
        for probe in (basic, cookie):
            util.expect_ok(probe.url, probe.headers)
        results = util.alternate([basic, cookie])
    return util.throughput_outcome(
        results,
        basic,
        cookie,
        name="3 Basic vs cookie",
        title="3. GET /4/accounts/{id}: Basic vs session cookie",
        target=TARGET_RATIO,
        as_multiple=False,
    )


if __name__ == "__main__":
    main()
