"""Two real `luna-admin serve` processes on the one test database, both with the
scheduler enabled (docs/schedules.md, "The leader"): exactly one leads, every
fire creates one task, a change made through the other process reaches the
leader within about a second, both answer HTTP throughout, and when the leader
is killed the other takes over within seconds and fires what fell due in the
gap, once.

One real minute boundary is waited for (the only way to see a cron trigger fire
by itself). Every other fire is a catch-up, which a leader runs at once: a
running schedule whose baseline (its last fire, or its last change) lies more
than one fire time in the past fires once, for the latest missed time
("Catch-up after downtime"). The test moves a baseline back by SQL to make one.
So the test takes some 5 s plus the wait for a minute boundary (30 s on average).

Which process leads is read from PostgreSQL: each server connects with its own
application_name, and pg_locks names the backend holding the leader's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.processes import Processes, Server, with_application_name
from webapp import db
from webapp.schedules.leader import LEADER_LOCK
from webapp.schedules.service import CHANNEL

pytestmark = pytest.mark.slow

URL = "/4/tasks/schedules"
GC_TASK = {
    "task_type": 4,
    "content": {"target": "face_descriptors", "filters": {"descriptor_version": 56}},
}
ADMIN = ("root@visionlabs.ai", "root")
"""The default admin, which the `client` fixture leaves in the database (Basic auth)."""
APP_PREFIX = f"luna-admin-test-{os.getpid()}-"
"""application_name of the servers (the pid: a stray server of another run shows as such)."""
LEADS = "scheduler leader: this process leads"
SERVER_ENV = {
    "LOG_LEVEL": "info",  # the leader, each fire and APScheduler's jobs say so in the log
    "SCHEDULER_ENABLED": "1",
    "WORKERS_IN_PROCESS": "0",  # no task runs: they stay pending
    "DB_POOL_SIZE": "3",
}

T = TypeVar("T")


def database_url() -> str:
    # tests/conftest.py sets DATABASE_URL to TEST_DATABASE_URL. (Not imported from
    # there: mypy would check conftest.py along, and find fault with it.)
    return os.environ["DATABASE_URL"]


async def eventually(check: Callable[[], Awaitable[T]], within: float, what: str) -> T:
    """The first true answer of `check`, asked every 50 ms for `within` seconds."""
    deadline = time.monotonic() + within
    while not (answer := await check()):
        assert time.monotonic() < deadline, f"{what}: not within {within:.1f} s"
        await asyncio.sleep(0.05)
    return answer


async def lock_holders() -> list[str]:
    """The servers (their names) whose connection holds the leader's advisory lock."""
    rows = await db.fetch(
        "SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a "
        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = 0 AND l.objid::bigint = $1 AND l.objsubid = 1",
        LEADER_LOCK,
    )
    return sorted(str(row["name"]).removeprefix(APP_PREFIX) for row in rows)


async def fires(schedule_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT fire_time, outcome, task_id, record_time FROM schedule_fire "
        "WHERE schedule_id = $1 ORDER BY fire_time",
        schedule_id,
    )
    return [dict(row) for row in rows]


def hourly_in_the_past() -> tuple[dict[str, str], datetime]:
    """An hourly trigger whose latest fire time was two to three minutes ago, and
    that time. Its next one is 57 minutes away: it never fires by itself here."""
    latest = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    return {"cron": f"{latest.minute} * * * *", "cron_timezone": "utc"}, latest


async def miss_five_hours(schedule_id: int, notify: bool) -> None:
    """As if no leader had run for five hours: five fire times missed."""
    await db.fetch(
        "UPDATE task_schedule SET last_update_time = now() - interval '5 hours' "
        "WHERE schedule_id = $1",
        schedule_id,
    )
    if notify:
        await db.fetch("SELECT pg_notify($1, $2)", CHANNEL, str(schedule_id))


async def create(http: httpx.AsyncClient, server: Server, trigger: dict[str, str]) -> int:
    response = await http.post(f"{server.url}{URL}", json={"task": GC_TASK, "trigger": trigger})
    assert response.status_code == 201, response.text
    return int(response.json()["schedule_id"])


def fired_in_log(server: Server) -> list[int]:
    """The schedules this process fired, once per fire, from its log."""
    return [int(found) for found in re.findall(r"schedule (\d+) fired for ", server.log_text())]


class Liveness:
    """Asks every watched server for a page of schedules (Basic auth, the database)
    four times a second, counting answers and recording every failure."""

    def __init__(self, http: httpx.AsyncClient, servers: dict[str, Server]) -> None:
        self.http = http
        self.watched = dict(servers)
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self._round = asyncio.Lock()

    async def run(self) -> None:
        while True:
            async with self._round:
                for name, server in self.watched.items():
                    try:
                        response = await self.http.get(
                            f"{server.url}{URL}", params={"page_size": 1}
                        )
                    except httpx.HTTPError as error:
                        self.failures.append(f"{name}: {error!r}")
                        continue
                    if response.status_code == 200:
                        self.answers[name] += 1
                    else:
                        self.failures.append(f"{name}: {response.status_code} {response.text}")
            await asyncio.sleep(0.25)

    async def unwatch(self, name: str) -> None:
        """Stop asking `name` (after the round in progress, so none is left hanging)."""
        async with self._round:
            del self.watched[name]


async def test_one_leader_fires_each_time_once_and_the_standby_takes_over(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    url = database_url()
    async with (
        Processes(tmp_path) as processes,
        httpx.AsyncClient(auth=ADMIN, trust_env=False, timeout=10.0) as http,
    ):
        servers = {
            name: processes.serve(name, with_application_name(url, APP_PREFIX + name), **SERVER_ENV)
            for name in ("a", "b")
        }
        await asyncio.gather(*(server.wait_until_up() for server in servers.values()))
        liveness = Liveness(http, servers)
        watching = asyncio.create_task(liveness.run())
        try:
            await _scenario(http, servers, liveness)
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching


async def _scenario(
    http: httpx.AsyncClient, servers: dict[str, Server], liveness: Liveness
) -> None:
    # ---- One leads: its connection alone holds the lock, and only it says it leads.
    (leader_name,) = await eventually(lock_holders, 10, "a server holding the leader lock")
    (standby_name,) = set(servers) - {leader_name}
    leader, standby = servers[leader_name], servers[standby_name]
    await eventually(lambda: _true(LEADS in leader.log_text()), 2, "the leader's log line")

    # ---- Through the standby: a schedule that missed fires; the leader catches it up
    # once, at once, for the latest missed time (the SQL's NOTIFY makes it resync).
    trigger, caught_up_at = hourly_in_the_past()
    caught_up = await create(http, standby, trigger)
    # Through the leader: the schedule whose fires the leader's death will make missed.
    gap_trigger, gap_at = hourly_in_the_past()
    gap = await create(http, leader, gap_trigger)
    await miss_five_hours(caught_up, notify=True)
    (fire,) = await eventually(lambda: fires(caught_up), 3, "the leader's catch-up")
    assert (fire["fire_time"], fire["outcome"]) == (caught_up_at, "created")

    # ---- A real minute boundary: a schedule created through the standby about 1.5 s
    # before it fires there, on time (so its job was in place within that time).
    now = datetime.now(UTC)
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if boundary - now < timedelta(seconds=1.8):
        boundary += timedelta(minutes=1)
    await asyncio.sleep((boundary - now).total_seconds() - 1.5)
    every_minute = await create(http, standby, {"cron": "* * * * *"})
    row = await db.fetchrow(
        "SELECT create_time FROM task_schedule WHERE schedule_id = $1", every_minute
    )
    assert row is not None
    due = row["create_time"].replace(second=0, microsecond=0) + timedelta(minutes=1)
    wait = (due - datetime.now(UTC)).total_seconds() + 3
    (fire,) = await eventually(lambda: fires(every_minute), wait, "the fire at the minute")
    assert (fire["fire_time"], fire["outcome"]) == (due, "created")
    assert fire["record_time"] - due < timedelta(seconds=1), "fired late"

    # ---- Paused through the standby: the leader drops the job within a second.
    # (Its log says so; the slack is the 50 ms polling of the log.)
    response = await http.patch(f"{standby.url}{URL}/{every_minute}", params={"action": "pause"})
    assert response.status_code == 204, response.text
    paused_at = time.monotonic()
    removed = re.compile(rf"scheduler leader: schedule {every_minute} unscheduled", re.M)
    await eventually(lambda: _true(bool(removed.search(leader.log_text()))), 3, "job removed")
    assert time.monotonic() - paused_at < 1.1, "the pause reached the leader late"
    got = (await http.get(f"{leader.url}{URL}/{every_minute}")).json()
    assert (got["status"], got["next_run_time"]) == ("paused", None)
    assert got["task_ids"] == [fire["task_id"]]

    # Many standby retries (every 2 s) later, the lock is still the leader's alone.
    assert await lock_holders() == [leader_name]
    assert LEADS not in standby.log_text()
    assert sorted(fired_in_log(leader)) == sorted([caught_up, every_minute])
    assert fired_in_log(standby) == []

    # ---- The leader dies. Frozen first (lock still held, nothing fired), it misses
    # five hours of fires of `gap`; then SIGKILL. The standby leads within a few
    # seconds and catches `gap` up: one fire, one task.
    await liveness.unwatch(leader_name)
    leader.freeze()
    await miss_five_hours(gap, notify=False)
    killed_at = time.monotonic()
    leader.kill()
    holders = await eventually(_holders_other_than(leader_name), 5, "the standby taking over")
    assert holders == [standby_name]
    took_over = time.monotonic() - killed_at
    (fire,) = await eventually(lambda: fires(gap), 3, "the new leader's catch-up")
    assert (fire["fire_time"], fire["outcome"]) == (gap_at, "created")
    assert LEADS in standby.log_text()
    got = (await http.get(f"{standby.url}{URL}/{gap}")).json()
    assert got["task_ids"] == [fire["task_id"]]

    # ---- Nothing more comes: one fire per schedule, one task per created fire.
    await asyncio.sleep(0.5)  # a second run of a coalesced job would be at once
    fired = {key: await fires(key) for key in (caught_up, every_minute, gap)}
    assert {key: len(value) for key, value in fired.items()} == {
        caught_up: 1,
        every_minute: 1,
        gap: 1,
    }, fired
    tasks = await db.fetch("SELECT task_id, schedule_id FROM task ORDER BY task_id")
    assert sorted((row["schedule_id"], row["task_id"]) for row in tasks) == sorted(
        (schedule_id, records[0]["task_id"]) for schedule_id, records in fired.items()
    )
    assert fired_in_log(standby) == [gap]
    assert await lock_holders() == [standby_name]
    # Both answered HTTP throughout (the leader until it was frozen).
    assert liveness.failures == []
    assert liveness.answers[leader_name] >= 2 and liveness.answers[standby_name] >= 2
    print(f"takeover {took_over:.2f} s after SIGKILL; HTTP answers {dict(liveness.answers)}")


def _holders_other_than(name: str) -> Callable[[], Awaitable[list[str]]]:
    async def check() -> list[str]:
        holders = await lock_holders()
        return [] if name in holders else holders

    return check


async def _true(value: bool) -> bool:
    return value
