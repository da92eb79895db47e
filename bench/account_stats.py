"""Target 4: GET /4/accounts/{id} for an account owning 1,000,000 faces.

The stats (list, face and attribute counts) must not cost a count(*) over the
account's rows. Sequential requests, one at a time, so each one's latency is
its own. The reference is the same request for an account with no faces (the
admin), interleaved request by request. Target: median under 20 ms.

    python -m bench.account_stats
"""

from __future__ import annotations

import statistics
import time

import httpx

from bench import util

REQUESTS = 200
WARMUP_REQUESTS = 10
TARGET_MS = 20.0


def main() -> util.Outcome:
    util.heading("account with a million faces: sequential latency")
    big = util.ensure_big_account()
    port = util.free_port()
    with util.serve("service", util.service_command(port), port, "/version") as svc:
        small = util.admin_account_id()
        faces = util.expect_ok(svc.url(f"/4/accounts/{big}"), util.basic_auth()).json()
        big_ms, small_ms = _interleaved(svc, big, small)
    return _report(big_ms, small_ms, faces["stats"])


def _interleaved(svc: util.Server, big: str, small: str) -> tuple[list[float], list[float]]:
    """Latencies (ms) of REQUESTS requests for each account, alternating."""
    big_ms: list[float] = []
    small_ms: list[float] = []
    # One keep-alive connection, like wrk -c1; Basic auth hits the credential cache.
    with httpx.Client(headers=util.basic_auth(), timeout=30.0, trust_env=False) as client:
        for _ in range(WARMUP_REQUESTS):
            _timed(client, svc.url(f"/4/accounts/{big}"))
        for _ in range(REQUESTS):
            big_ms.append(_timed(client, svc.url(f"/4/accounts/{big}")))
            small_ms.append(_timed(client, svc.url(f"/4/accounts/{small}")))
    return big_ms, small_ms


def _timed(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} -> {response.status_code}: {response.text[:300]}")
    return elapsed


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _report(big_ms: list[float], small_ms: list[float], stats: dict[str, int]) -> util.Outcome:
    median, reference = statistics.median(big_ms), statistics.median(small_ms)
    outcome = util.Outcome(
        name="4 1M-face account",
        figure=f"{median:.2f} ms median",
        baseline=f"{reference:.2f} ms (no faces)",
        ratio=f"{median / reference:.2f}x",
        target=f"< {TARGET_MS:.0f} ms",
        met=median < TARGET_MS,
    )
    util.print_block(
        "4. GET /4/accounts/{id} of an account with a million faces",
        [
            f"stats answered: {stats}",
            f"{REQUESTS} sequential requests each (after {WARMUP_REQUESTS} warm-up)",
            f"1M faces: median {median:.2f} ms  p99 {p99(big_ms):.2f} ms  max {max(big_ms):.2f} ms",
            f"no faces: median {reference:.2f} ms  p99 {p99(small_ms):.2f} ms"
            f"  max {max(small_ms):.2f} ms",
            "(client side, httpx included: the server's own time is lower)",
        ],
        outcome,
    )
    return outcome


if __name__ == "__main__":
    main()
