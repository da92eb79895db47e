"""Outbound requests never reach inside the network (docs/security.md, "Outbound requests").

Refused when stored: every spelling of an address literal that is loopback,
private, link-local, multicast, unspecified, reserved, CGNAT..., and localhost
names, in every route that stores a callback (task creation, the policy route
and its page, schedules). Refused at delivery: the stored URL is checked again,
and a name is resolved once, every address checked, and the connection made
to the checked address. Redirects are not followed. CALLBACK_ALLOWED_NETWORKS
opens chosen networks: the tests' own recording servers listen on 127.0.0.1,
which conftest allows; the tests here run an app (or a sender) that allows
nothing, or something else.

The resolver of the delivery tests is a stand-in for DNS (the outside world):
it answers what a hostile DNS server would.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, HTML
from tests.conftest import test_settings as make_settings
from tests.integration.helpers import app_client
from tests.integration.test_notifications import create_task, in_transaction, outbox_rows
from tests.support.callback_server import CallbackServer
from webapp import db
from webapp.notify.dispatcher import Dispatcher
from webapp.notify.outbox import enqueue_task_event
from webapp.notify.senders import CallbackSender
from webapp.outbound.addresses import AllowedNetworks
from webapp.outbound.client import outbound_client
from webapp.settings import Settings

GC = {"target": "face_descriptors", "filters": {"descriptor_version": 56}}

INSIDE = [
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:5010/4/accounts",
    "http://LOCALHOST./4/accounts",
    "http://admin.localhost/4/accounts",
    "http://[::1]:5010/4/accounts",
    "http://0/",
    "http://0.0.0.0:5010/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://127.0.0.1./hook",
    "http://127.0.0.1:5010/4/accounts",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::a00:1]/",
    "http://10.0.0.1/",
    "https://172.16.5.4:8443/hook",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://198.18.0.1/",
    "http://0177.0.0.1/",
    "http://good@127.0.0.1/",
    "http://good.example.com@127.0.0.1/",
    "http://[fe80::1%25eth0]/",
]


def policy_to(url: str, **extra: Any) -> dict[str, Any]:
    return {"task_callbacks": [{"type": "http", "url": url, **extra}]}


async def post_gc(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """POST a GC task with one http callback to `url`."""
    return await client.post(
        "/4/tasks/gc",
        json={"content": GC, "notification_policy": policy_to(url)},
        headers=ADMIN,
    )


def strict_client(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """A client of an app that allows no network (unless `overrides` say otherwise)."""
    return app_client(**{"callback_allowed_networks": "", **overrides})


async def count(table: str) -> int:
    row = await db.fetchrow(f"SELECT count(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def refused(response: httpx.Response, path: str) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == 12022, body
    assert f"Path: '{path}'" in body["detail"], body
    return str(body["detail"])


# -- when stored ---------------------------------------------------------------


@pytest.mark.parametrize("url", INSIDE)
async def test_a_task_callback_inside_the_network_is_refused(client, url):
    async with strict_client() as strict:
        response = await post_gc(strict, url)
    refused(response, "notification_policy.task_callbacks.0.url")
    assert await count("task") == 0


async def test_the_refusal_says_what_the_address_is_and_how_to_allow_it(client):
    async with strict_client() as strict:
        response = await post_gc(strict, "http://2130706433:5010/")
    detail = refused(response, "notification_policy.task_callbacks.0.url")
    assert "127.0.0.1 (loopback address)" in detail
    assert "CALLBACK_ALLOWED_NETWORKS" in detail


async def test_every_route_that_stores_a_callback_refuses_inside_targets(client):
    created = await client.post("/4/tasks/gc", json={"content": GC}, headers=ADMIN)
    task_id = created.json()["task_id"]
    inside = {
        "task_callbacks": [{"type": "http", "url": "https://hooks.example.com/ok"}],
        "subtask_callbacks": [
            {"type": "http", "url": "http://[::1]/x", "params": {"headers": {"X-A": "b"}}}
        ],
    }
    async with strict_client() as strict:
        put = await strict.put(
            f"/4/tasks/{task_id}/notification_policy", json=inside, headers=ADMIN
        )
        refused(put, "subtask_callbacks.0.url")
        page = await strict.post(
            f"/tasks/{task_id}/notification_policy",
            data={"policy": json.dumps(inside)},
            headers={**ADMIN, **HTML},
        )
        assert page.status_code == 422
        assert "subtask_callbacks.0.url" in page.text and "loopback" in page.text
        schedule = await strict.post(
            "/4/tasks/schedules",
            json={
                "task": {"task_type": 4, "content": GC, "notification_policy": inside},
                "trigger": {"cron": "5 4 * * *"},
            },
            headers=ADMIN,
        )
        refused(schedule, "task.notification_policy.subtask_callbacks.0.url")
    stored = await db.fetchrow("SELECT notification_policy::text AS p FROM task")
    assert stored is not None and "::1" not in stored["p"]
    assert await count("task_schedule") == 0


async def test_a_public_name_or_address_is_stored(client):
    async with strict_client() as strict:
        for url in ("https://hooks.example.com/luna", "http://93.184.215.14:8080/x"):
            response = await post_gc(strict, url)
            assert response.status_code == 201, response.text


async def test_allowed_networks_open_only_what_they_name(client):
    async with strict_client(callback_allowed_networks="10.0.0.0/8, fd00::/8") as opened:
        for url in ("http://10.1.2.3:8080/hook", "http://[fd12::1]/hook"):
            response = await post_gc(opened, url)
            assert response.status_code == 201, response.text
        still = await post_gc(opened, "http://192.168.0.10/")
        refused(still, "notification_policy.task_callbacks.0.url")


# -- at delivery ---------------------------------------------------------------


def strict_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "callback_allowed_networks": "",
        "notify_max_attempts": 2,
        "notify_backoff_seconds": 0.0,
        **overrides,
    }
    return make_settings(**values)


async def deliver_once(config: Settings, client: httpx.AsyncClient | None = None) -> None:
    sender = CallbackSender(config, client)
    try:
        await Dispatcher(sender, config).run_once()
    finally:
        await sender.aclose()
        if client is not None:
            await client.aclose()


async def stored_callback(url: str, **extra: Any) -> dict[str, Any]:
    """A task whose policy holds `url` as if stored before the rule (or under a wider
    CALLBACK_ALLOWED_NETWORKS), with one notification waiting in the outbox."""
    await db.fetch("TRUNCATE notification_outbox, task RESTART IDENTITY CASCADE")
    task = await create_task(policy_to(url, **extra), status=5)
    await in_transaction(lambda conn: enqueue_task_event(conn, task, result_url="/4/r"))
    return task


async def test_a_stored_callback_to_a_local_service_is_not_sent(client):
    """The attack of the issue: a callback with admin headers pointed at a local service."""
    async with CallbackServer() as local_service:
        await stored_callback(
            f"{local_service.url}/4/accounts",
            params={"headers": {"Authorization": "Basic cm9vdEB2aXNpb25sYWJzLmFpOnJvb3Q="}},
        )
        await deliver_once(strict_settings())
        assert local_service.requests == []
    (row,) = await outbox_rows()
    assert row["delivered_time"] is None
    assert row["last_error"].startswith("refused: 127.0.0.1 (loopback address)")


class FakeDns:
    """What a DNS server answers for names, and how often it was asked."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


async def test_a_name_that_resolves_inside_is_refused_at_delivery(client):
    async with CallbackServer() as local_service:
        await stored_callback(f"http://hooks.example.test:{local_service.port}/hook")
        dns = FakeDns({"hooks.example.test": [["127.0.0.1"]]})
        config = strict_settings()
        await deliver_once(config, outbound_client(config.allowed_networks, dns))
        assert local_service.requests == []
    (row,) = await outbox_rows()
    assert row["last_error"] == (
        "refused: hooks.example.test resolves to 127.0.0.1 (loopback address) may not be "
        "reached by outbound requests unless CALLBACK_ALLOWED_NETWORKS allows its network"
    )


async def test_every_address_of_a_name_is_checked(client):
    """One public address beside an inside one does not make the name acceptable."""
    async with CallbackServer() as local_service:
        await stored_callback(f"http://mixed.example.test:{local_service.port}/hook")
        dns = FakeDns({"mixed.example.test": [["93.184.215.14", "::1", "127.0.0.1"]]})
        config = strict_settings()
        await deliver_once(config, outbound_client(config.allowed_networks, dns))
        assert local_service.requests == []
    (row,) = await outbox_rows()
    assert "resolves to ::1 (loopback address)" in row["last_error"]


async def test_the_connection_goes_to_the_address_that_was_checked(client):
    """DNS rebinding: the name answers an allowed address once, then an inside one. The
    name is resolved once and the connection made to the checked address (the system
    resolver, which does not know the name, is never asked)."""
    async with CallbackServer() as hook:
        await stored_callback(f"http://rebind.example.test:{hook.port}/hook?x=1")
        dns = FakeDns({"rebind.example.test": [["127.0.0.1"], ["10.0.0.1"]]})
        config = strict_settings(callback_allowed_networks="127.0.0.1/32")
        await deliver_once(config, outbound_client(config.allowed_networks, dns))
        (request,) = hook.requests
    assert dns.asked == ["rebind.example.test"]
    assert request.path == "/hook?x=1"
    assert request.headers["host"] == f"rebind.example.test:{hook.port}"
    (row,) = await outbox_rows()
    assert row["delivered_time"] is not None


async def test_redirects_are_not_followed(client):
    async with CallbackServer() as hook, CallbackServer() as elsewhere:
        hook.redirect_next(5, f"{elsewhere.url}/stolen")
        await stored_callback(f"{hook.url}/hook", params={"headers": {"X-Access-Key": "k-123"}})
        await deliver_once(strict_settings(callback_allowed_networks="127.0.0.1/32"))
        assert [r.status for r in hook.requests] == [302]
        assert elsewhere.requests == []
    (row,) = await outbox_rows()
    assert row["last_error"].startswith("answered HTTP 302")
    assert "k-123" not in row["last_error"]


async def test_telegram_inside_the_network_is_refused_at_delivery(client):
    async with CallbackServer() as local_service:
        await db.fetch("TRUNCATE notification_outbox, task RESTART IDENTITY CASCADE")
        task = await create_task(
            {"task_callbacks": [{"type": "telegram", "token": "123:abc", "chat_id": 1}]},
            status=5,
        )
        await in_transaction(lambda conn: enqueue_task_event(conn, task))
        # Settings built in code skip the check at start; delivery checks again.
        await deliver_once(strict_settings(telegram_api_url=local_service.url))
        assert local_service.requests == []
    (row,) = await outbox_rows()
    assert row["last_error"].startswith("refused: 127.0.0.1 (loopback address)")
    assert "123:abc" not in row["last_error"]


async def test_the_health_check_of_outside_services_is_refused_inside_the_network(client):
    async with (
        CallbackServer() as local_service,
        strict_client(telegram_api_url=f"{local_service.url}/") as strict,
    ):
        response = await strict.get("/healthcheck?include_luna_services=1")
        assert local_service.requests == []
    assert response.status_code == 502
    (failure,) = response.json()["errors"]
    assert failure["component"] == "telegram_api"
    assert "refused: 127.0.0.1 (loopback address)" in failure["error"]["detail"]


async def test_the_outbound_client_ignores_proxy_settings(monkeypatch):
    """A proxy from the environment would connect for us, unchecked."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    async with (
        CallbackServer() as hook,
        outbound_client(AllowedNetworks.parse("127.0.0.1/32")) as http,
    ):
        answer = await http.post(f"{hook.url}/direct", json={})
        assert answer.status_code == 200
        assert [r.path for r in hook.requests] == ["/direct"]
