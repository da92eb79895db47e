"""Two `luna-admin serve` processes and one `luna-admin worker` on one database,
as docs/operations.md ("Several processes") tells operators to run them behind a
load balancer: whichever server a request reaches, it sees the same accounts,
sessions, tasks and schedules, and the worker process runs the tasks both
servers create.

Requests alternate between the two servers the way a round-robin balancer
without sticky sessions would send them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.tasks_helpers import make_faces, poll_until
from tests.support.processes import Processes, Server

pytestmark = pytest.mark.slow

ADMIN = ("root@visionlabs.ai", "root")
SERVER_ENV = {"WORKERS_IN_PROCESS": "0", "SCHEDULER_ENABLED": "1", "DB_POOL_SIZE": "3"}
WORKER_ENV = {"GC_BATCH_SIZE": "50", "WORKER_HEARTBEAT_SECONDS": "0.5"}
V56 = {"target": "face_descriptors", "filters": {"descriptor_version": 56}}


def database_url() -> str:
    return os.environ["DATABASE_URL"]  # tests/conftest.py points it at the test database


class Balancer:
    """Round-robin over the servers, like a load balancer without sticky sessions."""

    def __init__(self, servers: list[Server]) -> None:
        self.clients = [
            httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10.0)
            for server in servers
        ]
        self.next = cycle(self.clients)
        self.served: dict[str, int] = {}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        client = next(self.next)
        self.served[str(client.base_url)] = self.served.get(str(client.base_url), 0) + 1
        return await client.request(method, path, **kwargs)

    def forget_cookies(self) -> None:
        for client in self.clients:
            client.cookies.clear()

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


async def test_two_servers_and_a_worker_share_everything(client: Any, tmp_path: Path) -> None:
    url = database_url()
    async with Processes(tmp_path) as processes:
        servers = [processes.serve(name, url, **SERVER_ENV) for name in ("a", "b")]
        processes.worker("worker", url, **WORKER_ENV)
        await asyncio.gather(*(server.wait_until_up() for server in servers))
        lb = Balancer(servers)
        try:
            await _exercise(lb)
        finally:
            await lb.close()
        # Every request above went through both servers, alternately.
        assert len(lb.served) == 2 and min(lb.served.values()) >= 5, lb.served


async def _exercise(lb: Balancer) -> None:
    # An account created through one server is there through the other.
    created = await lb.request(
        "POST",
        "/4/accounts",
        auth=ADMIN,
        json={"login": "ops@example.com", "password": "secret-ops", "account_type": "admin"},
    )
    assert created.status_code == 201, created.text
    account_id = created.json()["account_id"]
    fetched = await lb.request("GET", f"/4/accounts/{account_id}", auth=ADMIN)
    assert fetched.status_code == 200 and fetched.json()["info"]["login"] == "ops@example.com"

    # A session started on one server works on the other, and ends on both.
    login = await lb.request("POST", "/4/login", auth=("ops@example.com", "secret-ops"))
    assert login.status_code == 201, login.text
    cookie = {"Cookie": f"luna_admin_session={login.cookies['luna_admin_session']}"}
    lb.forget_cookies()  # sent by hand from here on, to both servers alike
    for _ in range(2):
        assert (await lb.request("GET", "/4/login", headers=cookie)).status_code == 200
    # The cookie alone ends it, whichever server answers.
    ended = await lb.request("DELETE", "/4/login", headers=cookie)
    assert ended.status_code == 204
    lb.forget_cookies()
    for _ in range(2):
        assert (await lb.request("GET", "/4/login", headers=cookie)).status_code == 401

    # A task created through one server is run by the worker process and seen
    # finished through both.
    await make_faces(uuid.UUID(account_id), 300, versions=(56,))
    gc = await lb.request("POST", "/4/tasks/gc", auth=ADMIN, json={"content": V56})
    assert gc.status_code == 201, gc.text
    task_id = gc.json()["task_id"]
    await _until_done(lb, task_id)
    result = await lb.request("GET", f"/4/tasks/{task_id}/result", auth=ADMIN)
    assert result.status_code == 200, result.text

    # A schedule made through one server, run now through the other: its task
    # runs in the worker too.
    schedule = await lb.request(
        "POST",
        "/4/tasks/schedules",
        auth=ADMIN,
        json={
            "task": {"task_type": 4, "content": V56},
            "trigger": {"cron": "0 3 * * *"},
            "behaviour": {"create_stopped": True},
        },
    )
    assert schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["schedule_id"]
    run = await lb.request("POST", f"/4/tasks/schedules/{schedule_id}/run", auth=ADMIN)
    assert run.status_code == 201, run.text
    await _until_done(lb, run.json()["task_id"])
    listed = await lb.request("GET", f"/4/tasks/schedules/{schedule_id}", auth=ADMIN)
    assert listed.json()["task_ids"] == [run.json()["task_id"]]

    # Deleted through one server, gone through both.
    deleted = await lb.request("DELETE", f"/4/accounts/{account_id}", auth=ADMIN)
    assert deleted.status_code == 204
    for _ in range(2):
        gone = await lb.request("GET", f"/4/accounts/{account_id}", auth=ADMIN)
        assert gone.status_code == 404


async def _until_done(lb: Balancer, task_id: int) -> None:
    async def done() -> bool:
        answer = await lb.request("GET", f"/4/tasks/{task_id}", auth=ADMIN)
        assert answer.status_code == 200, answer.text
        status = answer.json()["task_status"]
        assert status not in (2, 3), answer.text  # neither cancelled nor failed
        return bool(status == 5)

    await poll_until(done, within=60)
