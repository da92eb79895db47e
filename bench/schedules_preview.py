"""Target 16: the schedule preview (GET /{api}/tasks/schedules/preview) answers
in under 50 ms for any valid cron, count=100 included: one that fires once a
year, once in four or in 28 years, around clock changes, every minute.

A real `luna-admin serve` answers; each case is asked REQUESTS times, one request
at a time (latency, not throughput), over one kept-alive connection with a
session cookie. Baseline, same run, same way: GET /version. Beside each case,
the computation alone (webapp.schedules.words.preview in this process), which a
busy machine disturbs less.

    python -m bench.schedules_preview
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import datetime

import httpx

from bench import util
from webapp.schedules.words import preview

TARGET_MS = 50.0
REQUESTS = int(os.environ.get("BENCH_PREVIEW_REQUESTS", "30"))
COUNT = 100

# (what it is, cron, zone, start)
CASES = [
    ("daily", "5 4 * * *", "utc", None),
    ("once a year", "0 0 1 1 *", "Europe/Berlin", None),
    ("once a year, at the year's end", "59 23 31 12 *", "Pacific/Chatham", None),
    ("29 February", "0 0 29 2 *", "Europe/Berlin", None),
    ("29 February on a Sunday", "0 0 29 2 */7", "Asia/Kathmandu", None),
    ("1 February on a Sunday", "0 0 */30 2 0", "America/New_York", None),
    ("either day field", "0 0 29 2 1", "utc", None),
    ("odd days that are Mondays", "0 9 */2 * 1", "America/New_York", None),
    ("every minute, autumn (2 h back)", "* * * * *", "Antarctica/Troll", "2026-10-25T00:00"),
    ("02:xx, spring", "*/15 2 * * *", "Europe/Berlin", "2026-03-28T00:00"),
    (
        "fixed every minute, spring (30 min)",
        "0-59 0-23 * * *",
        "Australia/Lord_Howe",
        "2026-10-04T01:00",
    ),
    ("a skipped day", "0 12 * * *", "Pacific/Apia", "2011-12-28T00:00"),
    ("Sundays of March at 02:xx", "* 2 * 3 0", "Europe/Berlin", "2026-01-01T00:00"),
]


def timed_get(client: httpx.Client, url: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} {params} -> {response.status_code}: {response.text[:300]}")
    return elapsed


def latencies(client: httpx.Client, url: str, params: dict[str, str]) -> list[float]:
    for _ in range(3):  # warm: the first answers build caches
        timed_get(client, url, params)
    return sorted(timed_get(client, url, params) for _ in range(REQUESTS))


def computation_ms(cron: str, zone: str, start: str | None) -> float:
    trigger = {"cron": cron, "cron_timezone": zone}
    begin = datetime.fromisoformat(start) if start else None
    runs = []
    for _ in range(7):
        started = time.perf_counter()
        preview(trigger, COUNT, begin)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> util.Outcome:
    util.heading("schedule preview: count=100 for rare and clock-change crons")
    util.ensure_schema()
    port = util.free_port()
    env = {"WORKERS_IN_PROCESS": "0", "SCHEDULER_ENABLED": "0"}
    with util.serve("preview", util.service_command(port), port, "/version", env) as server:
        headers = util.session_cookie(server)
        lines = []
        worst = 0.0
        with httpx.Client(headers=headers, timeout=30.0, trust_env=False) as client:
            base = latencies(client, server.url("/version"), {})
            for name, cron, zone, start in CASES:
                params = {"cron": cron, "cron_timezone": zone, "count": str(COUNT)}
                if start:
                    params["start"] = start
                times = latencies(client, server.url("/4/tasks/schedules/preview"), params)
                worst = max(worst, times[-1])
                lines.append(
                    f"  {name:38s} p50 {statistics.median(times):6.1f} ms  "
                    f"max {times[-1]:6.1f} ms  (computing alone: "
                    f"{computation_ms(cron, zone, start):5.1f} ms)  {cron!r} {zone}"
                )
    base_line = (
        f"  {'GET /version (baseline)':38s} p50 {statistics.median(base):6.1f} ms  "
        f"max {base[-1]:6.1f} ms"
    )
    outcome = util.Outcome(
        "16 schedule preview",
        f"max {worst:.1f} ms",
        f"/version max {base[-1]:.1f} ms",
        f"{worst / max(base[-1], 0.001):.1f}x",
        f"< {TARGET_MS:.0f} ms",
        met=worst < TARGET_MS,
    )
    util.print_block(
        f"16. Schedule preview, count={COUNT}: {REQUESTS} requests per case, one at a time",
        [base_line, *lines, f"  load average: {util.load_average()}"],
        outcome,
    )
    return outcome


if __name__ == "__main__":
    main()
