"""Target 17: GET /version stays quick while four clients flood POST /login with forms.

The flood is the one of issue 9, item 10: each request a 1 MB urlencoded form of
about 95,000 fields, posted without credentials to the sign-in form, as fast
as the client can (two clients announce the size with Content-Length, two send
it chunked, without one). Each flooding client is a process of its own, so the
bench's own interpreter does not slow the measuring client down.

The figure is the median latency of sequential `GET /version` requests on one
keep-alive connection (httpx, client side) while the four clients flood; the
baseline is the same measurement without the flood, on the same server, in
the same run: quiet, flooded, flooded, quiet (BENCH_ROUNDS pairs). Target: the
flooded median under 50 ms. Every flooding answer should be a 4xx (413: the
form is refused while it is read); their counts by status are printed.

    python -m bench.flood
"""

from __future__ import annotations

import multiprocessing
import socket
import statistics
import time
from collections import Counter
from typing import Any

import httpx

from bench import util
from bench.account_stats import p99

TARGET_MS = 50.0
FLOODERS = 4
PROBES = 200
"""GET /version requests per measurement."""
FIELDS = 95_000


def flood_body() -> bytes:
    """1 MB of `fNNNNN=vvv&...`: about 95,000 fields."""
    fields = [f"f{index:05d}=v".encode() for index in range(FIELDS)]
    body = b"&".join(fields)
    padding = 1024 * 1024 - len(body)
    return body + (b"x" * padding if padding > 0 else b"")


def _post_once(port: int, body: bytes, chunked: bool) -> int:
    """One flooding request on a new connection; the answer's status (0: none)."""
    head = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + (
            b"Transfer-Encoding: chunked\r\n\r\n"
            if chunked
            else b"Content-Length: %d\r\n\r\n" % len(body)
        )
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
            if chunked:
                for start in range(0, len(body), 65536):
                    part = body[start : start + 65536]
                    sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(body)
        except OSError:
            pass  # refused before the whole body was sent: the answer is waiting
        try:
            answer = sock.recv(64)
        except OSError:
            return 0
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _flooder(port: int, chunked: bool, stop: Any, counts: Any) -> None:
    body = flood_body()
    seen: Counter[int] = Counter()
    while not stop.is_set():
        try:
            seen[_post_once(port, body, chunked)] += 1
        except OSError:
            seen[0] += 1
    counts.put(dict(seen))


def _probe(url: str) -> list[float]:
    """Latencies (ms) of PROBES sequential GET /version on one connection."""
    latencies: list[float] = []
    with httpx.Client(timeout=60.0, trust_env=False) as client:
        for _ in range(5):
            client.get(url)
        for _ in range(PROBES):
            started = time.perf_counter()
            response = client.get(url)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} -> {response.status_code}")
    return latencies


def _flooded_probe(port: int, url: str) -> tuple[list[float], dict[int, int]]:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    counts = context.Queue()
    flooders = [
        context.Process(target=_flooder, args=(port, index % 2 == 1, stop, counts))
        for index in range(FLOODERS)
    ]
    for process in flooders:
        process.start()
    time.sleep(2.0)  # the flooders start (spawn) and reach full speed
    try:
        latencies = _probe(url)
    finally:
        stop.set()
    answers: Counter[int] = Counter()
    for _ in flooders:
        answers.update(counts.get(timeout=60))
    for process in flooders:
        process.join(timeout=30)
    return latencies, dict(answers)


def main() -> util.Outcome:
    util.heading("flood: GET /version while 4 clients post 1 MB forms to /login")
    util.ensure_schema()
    port = util.free_port()
    quiet_ms: list[float] = []
    flooded_ms: list[float] = []
    answers: Counter[int] = Counter()
    with util.serve("service", util.service_command(port), port, "/version") as svc:
        url = svc.url("/version")
        util.expect_ok(url)
        for round_index in range(util.ROUNDS):
            order = ("quiet", "flooded") if round_index % 2 == 0 else ("flooded", "quiet")
            for side in order:
                if side == "quiet":
                    run = _probe(url)
                    quiet_ms += run
                else:
                    run, seen = _flooded_probe(port, url)
                    flooded_ms += run
                    answers.update(seen)
                print(f"  round {round_index + 1}: {side:<8} {_spread(run)}", flush=True)
    return _report(quiet_ms, flooded_ms, answers)


def _spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} ms  p99 {p99(values):.2f} ms"
        f"  max {max(values):.2f} ms"
    )


def _report(quiet: list[float], flooded: list[float], answers: Counter[int]) -> util.Outcome:
    median, reference = statistics.median(flooded), statistics.median(quiet)
    total = sum(answers.values())
    refused = sum(count for status, count in answers.items() if 400 <= status < 500)
    outcome = util.Outcome(
        name="17 /version flooded",
        figure=f"{median:.2f} ms median",
        baseline=f"{reference:.2f} ms (quiet)",
        ratio=f"{median / reference:.1f}x",
        target=f"< {TARGET_MS:.0f} ms",
        met=median < TARGET_MS and refused == total,
        note="" if refused == total else f"{total - refused} flood answers were not 4xx",
    )
    util.print_block(
        "17. GET /version under a flood of 1 MB forms posted to /login",
        [
            f"{FLOODERS} flooding processes (2 with Content-Length, 2 chunked), "
            f"{FIELDS:,} fields per 1 MB form",
            f"flood answers by status: {dict(sorted(answers.items()))} ({total:,} requests)",
            f"flooded: {_spread(flooded)}",
            f"quiet:   {_spread(quiet)}",
            f"({len(flooded)} requests each, client side; load average now: {util.load_average()})",
        ],
        outcome,
    )
    return outcome


if __name__ == "__main__":
    main()
