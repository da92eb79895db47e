"""The plumbing every bench shares: data, servers, wrk, and the result block.

Servers run as subprocesses on free ports of 127.0.0.1 (one uvicorn process,
one worker each); load comes from wrk. The machine is noisy, so a figure is
only ever compared with a baseline measured in the same run, alternately.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
"""Server logs (git-ignored)."""

ADMIN_LOGIN = "root@visionlabs.ai"
ADMIN_PASSWORD = "root"
ACCOUNTS_WANTED = 100_000
BIG_ACCOUNT_FACES = 1_000_000

# An empty list of descriptor versions: no descriptors. No measured route
# reads them, and a million of 512 bytes each would lengthen the seeding a lot.
NO_DESCRIPTORS = ["--descriptor-versions"]
# Bare accounts: the accounts page reads only the account table and its counter.
BARE_ACCOUNTS = ["--faces", "0", "--lists-per-account", "0", "--attributes", "0"]
# Lists and attributes make the big account's stats realistic.
BIG_ACCOUNT_EXTRAS = ["--lists-per-account", "3", "--faces-per-list", "1000", "--attributes", "0.5"]

# wrk settings shared by every comparison. BENCH_SECONDS / BENCH_ROUNDS
# shorten a run while trying things out; the defaults are the real figures.
WRK_THREADS = 1
WRK_CONNECTIONS = 16
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARMUP_SECONDS = 2

START_TIMEOUT = 90.0
"""The service applies migrations before it listens; a fresh database takes a while."""


# --------------------------------------------------------------------------- database


def database_url() -> str:
    """DATABASE_URL, or the local cluster's bench database when it is unset."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        url = subprocess.run(
            [sys.executable, "-m", "webapp.devdb", "ensure", "luna_admin_bench"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        os.environ["DATABASE_URL"] = url
    _refuse_non_bench_database(url)
    return url


def _refuse_non_bench_database(url: str) -> None:
    # The benches add 100,000 accounts and a million faces: never to a
    # development or test database that happened to be in DATABASE_URL.
    name = urlsplit(url).path.lstrip("/")
    if not name.endswith("_bench") and os.environ.get("BENCH_ANY_DATABASE") != "1":
        sys.exit(
            f"bench: refusing database {name!r}: its name must end in _bench "
            "(or set BENCH_ANY_DATABASE=1)"
        )


def masked(url: str) -> str:
    """The URL for printing: a password in it becomes ********."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":********@", 1)


def query(sql: str, *args: Any) -> list[asyncpg.Record]:
    """One query on a connection of its own (the benches need only a few)."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url())
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def server_env() -> dict[str, str]:
    # One log line per request at info would measure the logger, not the service.
    return {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "warning"}


def luna_admin(*args: str) -> str:
    """Run the service's CLI (same interpreter) and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"luna-admin {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def ensure_schema() -> None:
    luna_admin("migrate")


def ensure_accounts(total: int = ACCOUNTS_WANTED) -> int:
    """At least `total` accounts; seeds only the missing ones. Returns the count."""
    ensure_schema()
    have = int(query("SELECT count(*) AS n FROM account")[0]["n"])
    if have >= total:
        return have
    print(f"seeding {total - have:,} accounts ...", flush=True)
    started = time.perf_counter()
    luna_admin("seed", "--accounts", str(total - have), *BARE_ACCOUNTS, *NO_DESCRIPTORS)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return int(query("SELECT count(*) AS n FROM account")[0]["n"])


def ensure_big_account(faces: int = BIG_ACCOUNT_FACES) -> str:
    """The id of an account owning at least `faces` faces; seeds one if there is none."""
    ensure_schema()
    found = _big_account(faces)
    if found:
        return found
    print(f"seeding one account with {faces:,} faces ...", flush=True)
    started = time.perf_counter()
    luna_admin(
        "seed", "--accounts", "1", "--faces", str(faces), *BIG_ACCOUNT_EXTRAS, *NO_DESCRIPTORS
    )
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    found = _big_account(faces)
    if not found:
        raise RuntimeError("seeding finished but no account has the faces (counters broken?)")
    return found


def _big_account(faces: int) -> str | None:
    # Not an account the removal bench seeds (or is removing).
    rows = query(
        "SELECT s.account_id FROM account_stats s JOIN account a ON a.account_id = s.account_id "
        "WHERE s.face_count >= $1 AND a.remove_time IS NULL AND a.login NOT LIKE 'bench-removal-%' "
        "ORDER BY s.face_count DESC LIMIT 1",
        faces,
    )
    return str(rows[0]["account_id"]) if rows else None


def admin_account_id() -> str:
    """The default admin's id (it exists once the service has started)."""
    rows = query("SELECT account_id FROM account WHERE login = $1", ADMIN_LOGIN)
    if not rows:
        raise RuntimeError(f"{ADMIN_LOGIN} does not exist: start the service first")
    return str(rows[0]["account_id"])


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_command(port: int) -> list[str]:
    # `python -m webapp.cli` is `luna-admin`: it serves in this very process,
    # so the pid we hold is the server's (the memory bench reads its RSS).
    return [sys.executable, "-m", "webapp.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]


# The same uvicorn defaults the service gets from uvicorn.run() (uvloop,
# httptools, one worker), and like the service no access log or Server header.
UVICORN_FLAGS = ["--no-access-log", "--no-server-header", "--log-level", "warning"]


def baseline_command(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"bench.baselines:{app}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *UVICORN_FLAGS,
    ]


@contextlib.contextmanager
def serve(
    name: str,
    command: Sequence[str],
    port: int,
    ready_path: str,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Run a server until the block ends; ready once `ready_path` answers at all.

    `env` adds to (or overrides) `server_env()`, e.g. WORKERS_IN_PROCESS=0.
    """
    process, log = spawn(name, command, env)
    server = Server(name, port, process, log)
    try:
        _wait_ready(server, ready_path)
        yield server
    finally:
        stop_process(process)


def spawn(
    name: str, command: Sequence[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a process of the service's environment, its output in bench/out/<name>.log."""
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env={**server_env(), **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return process, log


def _wait_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{tail(server.log)}")
        try:
            httpx.get(server.url(path), timeout=2.0, trust_env=False)
            return  # any status will do: it listens
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {START_TIMEOUT:.0f} s:\n{tail(server.log)}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    # SIGINT is uvicorn's graceful stop (the lifespan closes the pools), and
    # `luna-admin worker`'s too (the batch in hand finishes first).
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (VmRSS is in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------------- HTTP
# Every request goes to 127.0.0.1: trust_env=False keeps any proxy of the
# environment out of the way.


def basic_auth(login: str = ADMIN_LOGIN, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def expect_ok(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Fail loudly before measuring: wrk would happily time a stream of 401s."""
    response = httpx.get(url, headers=headers or {}, timeout=30.0, trust_env=False)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} -> {response.status_code}: {response.text[:300]}")
    return response


def session_cookie(server: Server) -> dict[str, str]:
    """Sign in as the admin (POST /4/login with Basic) and return the Cookie header."""
    response = httpx.post(
        server.url("/4/login"), headers=basic_auth(), timeout=30.0, trust_env=False
    )
    token = response.cookies.get("luna_admin_session")
    if response.status_code != 201 or not token:
        raise RuntimeError(f"POST /4/login -> {response.status_code}: {response.text[:300]}")
    return {"Cookie": f"luna_admin_session={token}"}


# --------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int
    """Non-2xx answers plus socket errors: a valid measurement has none."""
    cpu_us: float = float("nan")
    """CPU time (user + system, all threads) the server process spent per request."""


@dataclass(frozen=True)
class Probe:
    """One thing to load: a label, a URL and the headers of every request."""

    label: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    """The server's process, to charge its CPU time to the requests."""


def run_wrk(probe: Probe, seconds: int, connections: int = WRK_CONNECTIONS) -> WrkResult:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in probe.headers.items():
        command += ["-H", f"{name}: {value}"]
    cpu_before = cpu_seconds(probe.pid) if probe.pid else 0.0
    done = subprocess.run(
        [*command, probe.url], capture_output=True, text=True, check=True, timeout=seconds + 30
    )
    result = parse_wrk(done.stdout)
    if not probe.pid:
        return result
    # CPU per request moves much less than requests/s when other processes
    # compete for the CPUs: a second, steadier view of the same run.
    spent = cpu_seconds(probe.pid) - cpu_before
    return dataclasses.replace(result, cpu_us=spent * 1e6 / max(result.requests, 1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(text: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    requests = re.search(r"(\d+) requests in", text)
    if not rps or not requests:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    bad = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        bad += sum(int(count) for count in socket_errors.groups())
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_percentile_ms(text, "50"),
        p99_ms=_percentile_ms(text, "99"),
        requests=int(requests.group(1)),
        bad=bad,
    )


def _percentile_ms(text: str, percent: str) -> float:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(found.group(1)) * _UNIT_MS[found.group(2)] if found else float("nan")


def alternate(
    probes: Sequence[Probe], rounds: int = ROUNDS, seconds: int = SECONDS
) -> dict[str, list[WrkResult]]:
    """Load each probe in turn, `rounds` times, after a short warm-up of each.

    The order flips every round (A B, B A, A B ...) so a slow drift of the
    machine (another process, the CPU clock) does not favour one side.
    """
    for probe in probes:
        run_wrk(probe, WARMUP_SECONDS)
    results: dict[str, list[WrkResult]] = {probe.label: [] for probe in probes}
    for round_index in range(rounds):
        order = probes if round_index % 2 == 0 else list(reversed(probes))
        for probe in order:
            result = run_wrk(probe, seconds)
            results[probe.label].append(result)
            print(f"  round {round_index + 1}: {probe.label:<34} {describe(result)}", flush=True)
    return results


def describe(result: WrkResult) -> str:
    text = (
        f"{result.rps:7.0f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
        f"  cpu {result.cpu_us:5.0f} us/req"
    )
    return text + (f"  ({result.bad} BAD ANSWERS)" if result.bad else "")


def median_rps(results: Sequence[WrkResult]) -> float:
    return statistics.median(result.rps for result in results)


def median_cpu_us(results: Sequence[WrkResult]) -> float:
    return statistics.median(result.cpu_us for result in results)


def cpu_line(results: dict[str, list[WrkResult]], figure: str, baseline: str) -> str:
    """Server CPU per request of both sides, and the throughput ratio it implies."""
    ours, theirs = median_cpu_us(results[figure]), median_cpu_us(results[baseline])
    return (
        f"server CPU per request: {ours:.0f} us vs {theirs:.0f} us "
        f"(as a throughput ratio: {theirs / ours:.2f}; PostgreSQL's CPU not included)"
    )


def paired_ratio(results: dict[str, list[WrkResult]], figure: str, baseline: str) -> float:
    """The median of the per-round ratios figure / baseline.

    Each round measures both sides back to back, so a round's ratio is taken
    under one load of the machine; the median drops a round another process spoiled.
    """
    pairs = zip(results[figure], results[baseline], strict=True)
    return statistics.median(ours.rps / theirs.rps for ours, theirs in pairs)


def load_average() -> str:
    """The 1-minute load average, printed beside figures: above ~2 here, they are noisy."""
    return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def bad_answers(results: dict[str, list[WrkResult]]) -> int:
    return sum(result.bad for runs in results.values() for result in runs)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    """One row of the summary table."""

    name: str
    figure: str
    baseline: str
    ratio: str
    target: str
    met: bool
    note: str = ""


def print_block(title: str, lines: Sequence[str], outcome: Outcome) -> None:
    rule = "=" * 78
    print(f"\n{rule}\n{title}\n{rule}")
    for line in lines:
        print(f"  {line}")
    print(f"  target: {outcome.target}  ->  {'MET' if outcome.met else 'MISSED'}")
    if outcome.note:
        print(f"  note: {outcome.note}")
    print(rule, flush=True)


def throughput_outcome(
    results: dict[str, list[WrkResult]],
    figure: Probe,
    baseline: Probe,
    *,
    name: str,
    title: str,
    target: float,
    as_multiple: bool,
    context: Sequence[str] = (),
) -> Outcome:
    """Report "figure vs baseline" throughput, paired by round, against a target ratio."""
    ratio = paired_ratio(results, figure.label, baseline.label)
    bad = bad_answers(results)
    outcome = Outcome(
        name=name,
        figure=f"{median_rps(results[figure.label]):,.0f} req/s",
        baseline=f"{median_rps(results[baseline.label]):,.0f} req/s",
        ratio=f"{ratio:.2f}x" if as_multiple else f"{ratio:.0%}",
        target=f">= {target:.0f}x" if as_multiple else f">= {target:.0%}",
        met=ratio >= target and bad == 0,
        note=f"{bad} bad answers during the load" if bad else "",
    )
    width = max(len(figure.label), len(baseline.label)) + 1
    lines = [
        *context,
        f"{figure.label + ':':<{width}} {outcome.figure} (median of {len(results[figure.label])})",
        f"{baseline.label + ':':<{width}} {outcome.baseline}",
        f"ratio: {outcome.ratio} (median of the per-round ratios)",
        cpu_line(results, figure.label, baseline.label),
        f"load average now: {load_average()}",
    ]
    print_block(title, lines, outcome)
    return outcome


def heading(title: str) -> None:
    print(f"\n--- {title}", flush=True)
