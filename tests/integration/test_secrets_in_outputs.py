"""Secrets a callback carries never show in any output (docs/security.md, "Secrets in
outputs"): task, policy and schedule JSON, their pages, the audit log (API and page),
/config. What was stored is still sent to the callback in clear, and an edit that
sends the masked value back keeps the stored secret.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.conftest import ADMIN, HTML
from tests.integration.helpers import app_client
from tests.integration.tasks_helpers import settings
from tests.support.callback_server import CallbackServer
from webapp import db
from webapp.notify.dispatcher import Dispatcher
from webapp.notify.outbox import TASK_COLUMNS, enqueue_task_event
from webapp.notify.senders import CallbackSender
from webapp.redaction import MASK

GC = {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
SECRETS = ("pk-secret-1", "ak-secret-2", "tok-secret-3", "sig-secret-4", "pw-secret-5")


def policy(base_url: str) -> dict[str, Any]:
    return {
        "task_callbacks": [
            {
                "type": "http",
                "url": f"{base_url}/hook?token=tok-secret-3&team=ops&sig=sig-secret-4",
                "authorization": {"type": "basic", "login": "hook", "password": "pw-secret-5"},
                "params": {
                    "headers": {
                        "Private-Key": "pk-secret-1",
                        "X-Access-Key": "ak-secret-2",
                        "X-Team": "ops-team",
                    }
                },
            }
        ]
    }


async def task_with_secrets(client: httpx.AsyncClient, base_url: str) -> int:
    created = await client.post(
        "/4/tasks/gc", json={"content": GC, "notification_policy": policy(base_url)}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    return int(created.json()["task_id"])


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} shows in {where}"


async def outputs(client: httpx.AsyncClient, task_id: int, schedule_id: int) -> dict[str, str]:
    """Every output that shows the policy, by name."""
    pages = {
        "task JSON": f"/4/tasks/{task_id}",
        "policy JSON": f"/4/tasks/{task_id}/notification_policy",
        "task list JSON": "/4/tasks",
        "schedule JSON": f"/4/tasks/schedules/{schedule_id}",
        "schedule list JSON": "/4/tasks/schedules",
        "audit JSON": "/4/audit?page_size=100",
    }
    html = {
        "task page": f"/tasks/{task_id}",
        "policy page": f"/tasks/{task_id}/notification_policy",
        "schedule page": f"/tasks/schedules/{schedule_id}",
        "audit page": "/audit?page_size=100",
    }
    found = {}
    for name, path in pages.items():
        response = await client.get(path, headers=ADMIN)
        assert response.status_code == 200, (name, response.text)
        found[name] = response.text
    for name, path in html.items():
        response = await client.get(path, headers={**ADMIN, **HTML})
        assert response.status_code == 200, (name, response.text)
        found[name] = response.text
    return found


async def test_callback_secrets_show_nowhere_and_are_sent_in_clear(client):
    async with CallbackServer() as hook:
        task_id = await task_with_secrets(client, hook.url)
        schedule = await client.post(
            "/4/tasks/schedules",
            json={
                "task": {"task_type": 4, "content": GC, "notification_policy": policy(hook.url)},
                "trigger": {"cron": "5 4 * * *"},
            },
            headers=ADMIN,
        )
        assert schedule.status_code == 201, schedule.text
        schedule_id = schedule.json()["schedule_id"]

        shown = await outputs(client, task_id, schedule_id)
        for where, text in shown.items():
            assert_no_secret(text, where)
        callback = json.loads(shown["policy JSON"])["task_callbacks"][0]
        assert callback["url"] == f"{hook.url}/hook?token={MASK}&team=ops&sig={MASK}"
        assert callback["params"]["headers"] == {
            "Private-Key": MASK,
            "X-Access-Key": MASK,
            "X-Team": "ops-team",
        }
        assert callback["authorization"] == {"type": "basic", "login": "hook", "password": MASK}

        # Stored in clear, and sent in clear.
        stored = await db.fetchrow(
            "SELECT notification_policy::text AS p FROM task WHERE task_id = $1", task_id
        )
        assert stored is not None and all(s in stored["p"] for s in SECRETS)
        await db.fetch("UPDATE task SET task_status = 5 WHERE task_id = $1", task_id)
        await _deliver_one(task_id)
        (request,) = [r for r in hook.requests if r.path.startswith("/hook")]
        assert request.path == "/hook?token=tok-secret-3&team=ops&sig=sig-secret-4"
        assert request.headers["private-key"] == "pk-secret-1"
        assert request.headers["x-access-key"] == "ak-secret-2"


async def _deliver_one(task_id: int) -> None:
    row = await db.fetchrow(f"SELECT {TASK_COLUMNS} FROM task WHERE task_id = $1", task_id)
    assert row is not None
    async with db.connection() as conn, conn.transaction():
        await enqueue_task_event(conn, dict(row))
    config = settings()
    sender = CallbackSender(config)
    try:
        await Dispatcher(sender, config).run_once()
    finally:
        await sender.aclose()


async def test_an_edit_from_the_page_keeps_the_stored_secrets(client):
    task_id = await task_with_secrets(client, "https://hooks.example.com")
    page = await client.get(f"/tasks/{task_id}/notification_policy", headers={**ADMIN, **HTML})
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", page.text, re.S)
    assert textarea is not None
    shown = json.loads(textarea.group(1).replace("&#34;", '"').replace("&amp;", "&"))
    assert_no_secret(json.dumps(shown), "the policy form")
    shown["task_callbacks"][0]["params"]["headers"]["X-Team"] = "night-shift"
    saved = await client.post(
        f"/tasks/{task_id}/notification_policy",
        data={"policy": json.dumps(shown)},
        headers={**ADMIN, **HTML},
    )
    assert saved.status_code == 303, saved.text
    stored = await db.fetchrow(
        "SELECT notification_policy AS p FROM task WHERE task_id = $1", task_id
    )
    assert stored is not None
    callback = json.loads(stored["p"])["task_callbacks"][0]
    assert (
        callback["url"]
        == "https://hooks.example.com/hook?token=tok-secret-3&team=ops&sig=sig-secret-4"
    )
    assert callback["params"]["headers"] == {
        "Private-Key": "pk-secret-1",
        "X-Access-Key": "ak-secret-2",
        "X-Team": "night-shift",
    }
    assert callback["authorization"]["password"] == "pw-secret-5"


async def test_a_masked_query_secret_sent_to_another_host_is_refused(client):
    task_id = await task_with_secrets(client, "https://hooks.example.com")
    shown = (await client.get(f"/4/tasks/{task_id}/notification_policy", headers=ADMIN)).json()
    moved = shown["task_callbacks"][0]
    moved["url"] = moved["url"].replace("hooks.example.com", "attacker.example.net")
    moved.pop("authorization")
    moved["params"]["headers"] = {"X-Team": "ops-team"}
    response = await client.put(
        f"/4/tasks/{task_id}/notification_policy", json=shown, headers=ADMIN
    )
    assert response.status_code == 400
    assert "task_callbacks.0.url" in response.json()["detail"]
    stored = await db.fetchrow(
        "SELECT notification_policy::text AS p FROM task WHERE task_id = $1", task_id
    )
    assert stored is not None and "attacker" not in stored["p"]


async def test_secret_query_parameters_in_the_configuration_are_masked(client):
    async with app_client(
        database_url="postgresql://luna@db.example.com/luna?sslpassword=ssl-secret-6&sslmode=require",
        telegram_api_url="https://telegram.example/?api_key=tg-secret-7",
    ) as other:
        response = await other.get("/config", headers=ADMIN)
    assert response.status_code == 200
    assert "ssl-secret-6" not in response.text and "tg-secret-7" not in response.text
    assert f"sslpassword={MASK}&sslmode=require" in response.text
