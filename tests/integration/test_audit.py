"""The audit log: every change writes exactly one event in its own transaction,
failed changes write none, secrets never get in, and the route and page filter
and page through it."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, HTML, PAGE_POST, basic
from tests.integration.helpers import create_account, sign_in
from tests.integration.tasks_helpers import create_gc, poll_until, settings
from tests.integration.test_pages import page_sign_in
from webapp import audit, db
from webapp.accounts import service as accounts
from webapp.audit import service as audit_service
from webapp.schedules import service as schedules
from webapp.settings import Settings, SettingsError
from webapp.tasks.worker import housekeeping

AGENT = "audit-test-agent/1.0"
RID = "1700000000,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a"
SEEN = {**ADMIN, "User-Agent": AGENT, "Luna-Request-Id": RID}
"""Admin credentials plus what the log should copy from the request."""
PAGE = {**ADMIN, **HTML}

GC_V56 = {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
SECRETS = ("http-pa55word", "123456:TelegramSecretToken", "Bearer-header-secret")
POLICY = {
    "task_callbacks": [
        {
            "type": "http",
            "url": "https://hooks.example.com/luna",
            "authorization": {"type": "basic", "login": "ops", "password": SECRETS[0]},
            "params": {"headers": {"X-Api-Key": SECRETS[2], "X-Trace": "visible"}},
        },
        {"type": "telegram", "token": SECRETS[1], "chat_id": 77},
    ]
}
SCHEDULE = {
    "task": {"task_type": 4, "content": GC_V56, "description": "nightly gc"},
    "trigger": {"cron": "5 4 * * *", "cron_timezone": "utc"},
}


async def events(action: str | None = None) -> list[dict[str, Any]]:
    """The log as stored, oldest first (optionally one action only)."""
    rows = await db.fetch(
        "SELECT event_id, actor_id::text AS actor_id, actor_login, action, target_type, "
        "target_id, details, host(ip) AS ip, user_agent, request_id, event_time "
        "FROM audit_event WHERE $1::text IS NULL OR action = $1 ORDER BY event_id",
        action,
    )
    return [{**dict(row), "details": json.loads(row["details"])} for row in rows]


async def only(action: str) -> dict[str, Any]:
    """The one event of the log, which must be `action`."""
    log = await events()
    assert [e["action"] for e in log] == [action], log
    return log[0]


async def root_id() -> str:
    row = await db.fetchrow(
        "SELECT account_id::text AS id FROM account WHERE login = $1", ADMIN_LOGIN
    )
    assert row is not None
    return str(row["id"])


async def log_text() -> str:
    """Every column of every event as text: where a secret must not appear."""
    rows = await db.fetch("SELECT a::text AS t FROM audit_event a")
    return "\n".join(row["t"] for row in rows)


async def clear_log() -> None:
    await db.fetch("TRUNCATE audit_event")


def assert_from_request(event: dict[str, Any], actor_id: str, login: str = ADMIN_LOGIN) -> None:
    assert event["actor_id"] == actor_id
    assert event["actor_login"] == login
    assert event["ip"] == "127.0.0.1"
    assert event["user_agent"] == AGENT
    assert event["request_id"] == RID


# ---------------------------------------------------------------- accounts


async def test_account_create_is_recorded_with_who_where_and_what(client):
    response = await client.post(
        "/4/accounts",
        json={"login": "new@example.com", "password": "pw-never-logged", "description": "ops"},
        headers=SEEN,
    )
    assert response.status_code == 201
    event = await only("account.create")
    assert_from_request(event, await root_id())
    assert event["target_type"] == "account"
    assert event["target_id"] == response.json()["account_id"]
    assert event["details"] == {
        "login": "new@example.com",
        "account_type": "advanced_user",
        "description": "ops",
    }
    assert "pw-never-logged" not in await log_text()


async def test_account_create_with_an_id_is_recorded_under_that_id(client):
    account_id = str(uuid.uuid4())
    response = await client.put(
        f"/4/accounts/{account_id}",
        json={"login": "put@example.com", "password": "x1y"},
        headers=SEEN,
    )
    assert response.status_code == 201
    assert (await only("account.create"))["target_id"] == account_id


async def test_failed_account_creations_record_nothing(client):
    await create_account(client, "taken@example.com")
    await clear_log()
    for body in (
        {"login": "taken@example.com", "password": "secret"},  # 409
        {"login": "not an email", "password": "secret"},  # 400
        {"password": "secret"},  # 400
    ):
        response = await client.post("/4/accounts", json=body, headers=ADMIN)
        assert response.status_code in (400, 409), response.text
    assert await events() == []


async def test_account_delete_is_recorded_and_the_actor_login_outlives_its_account(client):
    admin_id = await create_account(client, "second@example.com", account_type="admin")
    victim = await create_account(client, "victim@example.com")
    await clear_log()
    removed = await client.delete(
        f"/4/accounts/{victim}",
        headers={**basic("second@example.com", "secret"), "User-Agent": AGENT},
    )
    assert removed.status_code == 204
    event = await only("account.delete")
    assert (event["actor_id"], event["actor_login"]) == (admin_id, "second@example.com")
    task_id = event["details"].pop("task_id")  # the task removing its rows
    assert isinstance(task_id, int)
    assert (event["target_id"], event["details"]) == (
        victim,
        {"login": "victim@example.com", "account_type": "advanced_user", "sessions_ended": 0},
    )
    # The admin who deleted it is deleted too: the event still names them.
    assert (await client.delete(f"/4/accounts/{admin_id}", headers=ADMIN)).status_code == 204
    first = (await events("account.delete"))[0]
    assert first["actor_login"] == "second@example.com"


async def test_accounts_made_outside_a_request_are_by_the_system(client):
    await db.fetch("DELETE FROM account")
    assert await accounts.ensure_default_admin()  # what `serve` does on an empty database
    assert not await accounts.ensure_default_admin()
    await accounts.create_account("cli@example.com", "cli-pw-1", "admin")  # `create-admin`
    default, cli = await events("account.create")
    for event in (default, cli):
        assert (event["actor_id"], event["actor_login"], event["ip"]) == (None, "system", None)
    assert default["details"] == {"login": ADMIN_LOGIN, "account_type": "admin", "default": True}
    assert cli["details"]["login"] == "cli@example.com"
    assert "cli-pw-1" not in await log_text()


async def test_failed_deletions_record_nothing(client):
    missing = await client.delete(f"/4/accounts/{uuid.uuid4()}", headers=ADMIN)
    assert missing.status_code == 404
    last_admin = await client.delete(f"/4/accounts/{await root_id()}", headers=ADMIN)
    assert last_admin.status_code == 409
    bad_id = await client.delete("/4/accounts/not-a-uuid", headers=ADMIN)
    assert bad_id.status_code == 400
    assert await events() == []


async def test_an_event_that_cannot_be_written_undoes_its_change(client):
    """The change and its event commit together: here the event fails, so the
    account must still be there."""
    victim = await create_account(client, "survivor@example.com")
    await db.fetch(
        "ALTER TABLE audit_event ADD CONSTRAINT test_refuses_deletes "
        "CHECK (action <> 'account.delete') NOT VALID"
    )
    try:
        response = await client.delete(f"/4/accounts/{victim}", headers=ADMIN)
    finally:
        await db.fetch("ALTER TABLE audit_event DROP CONSTRAINT test_refuses_deletes")
    assert response.status_code == 500
    assert (await client.get(f"/4/accounts/{victim}", headers=ADMIN)).status_code == 200
    assert await events("account.delete") == []


async def test_a_transaction_that_raises_leaves_no_event(client):
    with pytest.raises(RuntimeError, match="rolled back"):
        async with db.engine().transaction():
            await audit.record(None, "setting.update", "setting", "example", {"to": 1})
            raise RuntimeError("rolled back")
    assert await events() == []


async def test_record_refuses_to_write_outside_a_transaction(client):
    with pytest.raises(RuntimeError, match="no transaction"):
        await audit.record(None, "setting.update", "setting", "example")
    async with db.connection() as conn:
        with pytest.raises(RuntimeError, match="not in a transaction"):
            await audit.record(conn, "setting.update", "setting", "example")
        async with conn.transaction():
            with pytest.raises(ValueError, match="unknown audit action"):
                await audit.record(conn, "account.frobnicate", "account", "x")
    assert await events() == []


# ---------------------------------------------------------------- sessions


async def test_api_sign_in_is_recorded_once(client):
    response = await client.post("/4/login", headers={**SEEN})
    assert response.status_code == 201
    event = await only("session.sign_in")
    root = await root_id()
    assert_from_request(event, root)
    assert (event["target_type"], event["target_id"]) == ("account", root)
    assert event["details"] == {"via": "api"}


async def test_page_sign_in_is_recorded(client):
    response = await page_sign_in(client)
    assert response.status_code == 303
    event = await only("session.sign_in")
    assert event["details"] == {"via": "page"}
    assert event["actor_login"] == ADMIN_LOGIN


async def test_failed_sign_ins_are_recorded_without_the_password_or_an_unknown_login(client):
    wrong = await client.post(
        "/4/login", headers={**basic(ADMIN_LOGIN, "wrong-pw-1"), "User-Agent": AGENT}
    )
    assert wrong.status_code == 401
    unknown = await client.post("/4/login", headers=basic("typo-pw-in-login", "wrong-pw-2"))
    assert unknown.status_code == 401
    # Basic credentials on any route are a sign-in too.
    any_route = await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, "wrong-pw-3"))
    assert any_route.status_code == 401
    known, anonymous, on_route = await events("session.sign_in_failed")
    root = await root_id()
    assert (known["actor_id"], known["actor_login"]) == (None, None)
    assert (known["target_id"], known["details"]) == (root, {"login_known": True})
    assert (known["ip"], known["user_agent"]) == ("127.0.0.1", AGENT)
    assert (anonymous["target_id"], anonymous["details"]) == (None, {"login_known": False})
    assert on_route["target_id"] == root
    text = await log_text()
    for secret in ("wrong-pw-1", "wrong-pw-2", "wrong-pw-3", "typo-pw-in-login"):
        assert secret not in text


async def test_throttled_attempts_add_no_events(client, app):
    limit = app.state.authenticator.policy.max_failures
    for _ in range(limit + 3):
        await client.post("/4/login", headers=basic(ADMIN_LOGIN, "wrong"))
    assert len(await events("session.sign_in_failed")) == limit


async def test_sign_out_is_recorded_only_when_a_session_ends(client):
    await sign_in(client, ADMIN_LOGIN, "root")
    await clear_log()
    response = await client.delete("/4/login", headers={"User-Agent": AGENT})
    assert response.status_code == 204
    event = await only("session.sign_out")
    assert (event["actor_login"], event["target_id"]) == (ADMIN_LOGIN, await root_id())
    # Basic credentials and no cookie: no session ends, nothing to record.
    client.cookies.clear()
    assert (await client.delete("/4/login", headers=ADMIN)).status_code == 204
    assert len(await events()) == 1


async def test_page_sign_out_is_recorded(client):
    await page_sign_in(client)
    await clear_log()
    response = await client.post("/logout", headers=PAGE_POST)
    assert response.status_code == 303
    assert (await only("session.sign_out"))["actor_login"] == ADMIN_LOGIN


async def test_password_change_is_one_event_without_the_password(client):
    await sign_in(client, ADMIN_LOGIN, "root")
    await clear_log()
    response = await client.patch("/4/login", json={"password": "brand-new-pw"}, headers=SEEN)
    assert response.status_code == 204
    event = await only("password.change")  # the new session it hands out is not a sign-in
    assert_from_request(event, await root_id())
    assert event["details"] == {"sessions_ended": 1}
    assert "brand-new-pw" not in await log_text()


async def test_password_page_records_the_change_and_not_a_refused_one(client):
    await page_sign_in(client)
    await clear_log()
    mismatch = await client.post(
        "/password",
        headers=PAGE_POST,
        data={
            "_current_password": ADMIN_PASSWORD,
            "password": "abc",
            "_password_confirm": "abd",
        },
    )
    assert mismatch.status_code == 400
    assert await events() == []
    changed = await client.post(
        "/password",
        headers=PAGE_POST,
        data={
            "_current_password": ADMIN_PASSWORD,
            "password": "page-new-pw",
            "_password_confirm": "page-new-pw",
        },
    )
    assert changed.status_code == 303
    assert (await only("password.change"))["actor_login"] == ADMIN_LOGIN
    assert "page-new-pw" not in await log_text()


# ---------------------------------------------------------------- tasks


async def test_task_create_is_recorded_with_its_policy_masked(client):
    response = await client.post(
        "/4/tasks/gc",
        json={"content": GC_V56, "description": "audit me", "notification_policy": POLICY},
        headers=SEEN,
    )
    assert response.status_code == 201
    task_id = response.json()["task_id"]
    event = await only("task.create")
    assert_from_request(event, await root_id())
    assert (event["target_type"], event["target_id"]) == ("task", str(task_id))
    details = event["details"]
    assert (details["task_type"], details["content"], details["description"]) == (
        4,
        GC_V56,
        "audit me",
    )
    http, telegram = details["notification_policy"]["task_callbacks"]
    assert http["authorization"] == {"type": "basic", "login": "ops", "password": "********"}
    assert http["params"]["headers"] == {"X-Api-Key": "********", "X-Trace": "visible"}
    assert telegram["token"] == "********"
    text = await log_text()
    assert not [secret for secret in SECRETS if secret in text]


async def test_refused_tasks_record_nothing(client):
    for body in (
        {"content": {"target": "nothing"}},
        {"content": GC_V56, "notification_policy": {"x": 1}},
    ):
        response = await client.post("/4/tasks/gc", json=body, headers=ADMIN)
        assert response.status_code == 400, response.text
    assert await events() == []


async def test_cancel_delete_and_policy_replace_each_write_one_event(client):
    task_id = await create_gc(client, GC_V56)
    await clear_log()
    assert (await client.patch(f"/4/tasks/{task_id}", headers=SEEN)).status_code == 204
    cancel = await only("task.cancel")
    assert (cancel["target_id"], cancel["details"]) == (str(task_id), {"previous_status": 0})
    assert_from_request(cancel, await root_id())
    # A second cancel is refused (400, 28019 in the reference): nothing more.
    assert (await client.patch(f"/4/tasks/{task_id}", headers=ADMIN)).status_code == 400
    assert len(await events()) == 1

    await clear_log()
    policy = await client.put(f"/4/tasks/{task_id}/notification_policy", json=POLICY, headers=ADMIN)
    assert policy.status_code == 204
    replaced = await only("task.policy_replace")
    assert replaced["details"]["notification_policy"]["task_callbacks"][1]["token"] == "********"
    assert not [secret for secret in SECRETS if secret in await log_text()]
    bad = await client.put(
        f"/4/tasks/{task_id}/notification_policy", json={"enable": 7}, headers=ADMIN
    )
    assert bad.status_code == 400
    assert len(await events()) == 1

    await clear_log()
    assert (await client.delete(f"/4/tasks/{task_id}", headers=ADMIN)).status_code == 204
    deleted = await only("task.delete")
    assert deleted["details"] == {"task_type": 4, "task_status": 2}
    assert (await client.delete(f"/4/tasks/{task_id}", headers=ADMIN)).status_code == 404
    assert (await client.patch("/4/tasks/999999", headers=ADMIN)).status_code == 404
    assert len(await events()) == 1


async def test_deleting_a_pending_task_records_its_cancel_then_its_deletion(client):
    """Two changes, two transactions (cancel, so workers let go; then delete): two events."""
    task_id = await create_gc(client, GC_V56)
    await clear_log()
    assert (await client.delete(f"/4/tasks/{task_id}", headers=ADMIN)).status_code == 204
    assert [(e["action"], e["target_id"]) for e in await events()] == [
        ("task.cancel", str(task_id)),
        ("task.delete", str(task_id)),
    ]


# ---------------------------------------------------------------- schedules


async def test_schedule_changes_each_write_one_event(client):
    URL = "/4/tasks/schedules"
    body = {**SCHEDULE, "task": {**SCHEDULE["task"], "notification_policy": POLICY}}
    created = await client.post(URL, json=body, headers=SEEN)
    assert created.status_code == 201
    sid = str(created.json()["schedule_id"])
    event = await only("schedule.create")
    assert_from_request(event, await root_id())
    assert (event["target_type"], event["target_id"]) == ("schedule", sid)
    assert event["details"]["trigger"] == SCHEDULE["trigger"]
    assert event["details"]["status"] == "running"
    assert (
        event["details"]["task"]["notification_policy"]["task_callbacks"][0]["authorization"][
            "password"
        ]
        == "********"
    )
    assert not [secret for secret in SECRETS if secret in await log_text()]

    steps = [
        ("PUT", "", {**SCHEDULE, "trigger": {"cron": "0 3 * * *"}}, "schedule.replace"),
        ("PATCH", "?action=pause", None, "schedule.pause"),
        ("PATCH", "?action=pause", None, None),  # already paused: no change, no event
        ("PATCH", "?action=start", None, "schedule.start"),
        ("POST", "/run", None, "schedule.run"),
        ("DELETE", "", None, "schedule.delete"),
    ]
    for method, suffix, json_body, action in steps:
        await clear_log()
        response = await client.request(
            method, f"{URL}/{sid}{suffix}", json=json_body, headers=ADMIN
        )
        assert response.status_code < 300, (method, suffix, response.text)
        log = await events()
        assert [e["action"] for e in log] == ([action] if action else []), (method, suffix)
        if action:
            assert (log[0]["target_id"], log[0]["actor_login"]) == (sid, ADMIN_LOGIN)
    run = await db.fetchrow("SELECT task_id FROM task WHERE schedule_id = $1", int(sid))
    assert run is not None
    await clear_log()
    for method, suffix in (
        ("PUT", ""),
        ("PATCH", "?action=pause"),
        ("POST", "/run"),
        ("DELETE", ""),
    ):
        body_ = SCHEDULE if method == "PUT" else None
        response = await client.request(method, f"{URL}/{sid}{suffix}", json=body_, headers=ADMIN)
        assert response.status_code == 404, (method, suffix)
    bad = await client.post(URL, json={**SCHEDULE, "trigger": {"cron": "nope"}}, headers=ADMIN)
    assert bad.status_code == 400
    assert await events() == []


async def test_run_now_records_the_task_it_created_and_a_skip_records_nothing(client):
    sid = int(
        (await client.post("/4/tasks/schedules", json=SCHEDULE, headers=ADMIN)).json()[
            "schedule_id"
        ]
    )
    await clear_log()
    first = await client.post(f"/4/tasks/schedules/{sid}/run", headers=ADMIN)
    assert first.status_code == 201
    event = await only("schedule.run")
    assert event["details"]["task_id"] == first.json()["task_id"]
    assert event["details"]["task_type"] == 4
    # The task it created has not finished: the next run is a skip, which changes nothing.
    second = await client.post(f"/4/tasks/schedules/{sid}/run", headers=ADMIN)
    assert second.status_code == 409
    assert len(await events()) == 1


async def test_one_request_making_several_changes_writes_one_event_for_each(client):
    body = {**SCHEDULE, "behaviour": {"start_immediately": True}}
    created = await client.post("/4/tasks/schedules", json=body, headers=SEEN)
    sid = str(created.json()["schedule_id"])
    log = await events()
    assert [(e["action"], e["target_id"]) for e in log] == [
        ("schedule.create", sid),
        ("schedule.run", sid),
    ]
    task_id = str(log[1]["details"]["task_id"])
    await clear_log()
    # Replacing it cancels its unfinished task: that is a change too.
    replaced = await client.put(f"/4/tasks/schedules/{sid}", json=SCHEDULE, headers=SEEN)
    assert replaced.status_code == 200
    log = await events()
    assert [(e["action"], e["target_id"]) for e in log] == [
        ("schedule.replace", sid),
        ("task.cancel", task_id),
    ]
    assert {e["request_id"] for e in log} == {RID}


async def test_a_scheduled_fire_is_recorded_as_the_system(client):
    sid = int(
        (await client.post("/4/tasks/schedules", json=SCHEDULE, headers=SEEN)).json()["schedule_id"]
    )
    await clear_log()
    # What the leader does, outside any request (after one in this same task:
    # the request's actor must not linger).
    fired = await schedules.fire(sid, datetime(2030, 1, 1, 4, 5, tzinfo=UTC), settings())
    assert fired is not None and fired.task_id is not None
    event = await only("schedule.run")
    assert (event["actor_id"], event["actor_login"]) == (None, "system")
    assert (event["ip"], event["user_agent"], event["request_id"]) == (None, None, None)
    assert event["details"] == {
        "task_id": fired.task_id,
        "task_type": 4,
        "fire_time": "2030-01-01T04:05:00+00:00",
    }


# ---------------------------------------------------------------- the route


async def _some_history(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A small log: two accounts created, one deleted, a task, a sign-in."""
    first = await create_account(client, "first@example.com")
    await create_account(client, "second@example.com", account_type="admin")
    await client.delete(f"/4/accounts/{first}", headers=basic("second@example.com", "secret"))
    task_id = await create_gc(client, GC_V56)
    await sign_in(client, ADMIN_LOGIN, "root")
    return {"first": first, "task": str(task_id)}


async def test_route_lists_newest_first_with_filters_and_paging(client):
    ids = await _some_history(client)
    everything = (await client.get("/4/audit", headers=ADMIN)).json()
    assert set(everything) == {"events", "event_count"}
    assert everything["event_count"] == 5
    assert [e["action"] for e in everything["events"]] == [
        "session.sign_in",
        "task.create",
        "account.delete",
        "account.create",
        "account.create",
    ]
    event = everything["events"][2]
    assert set(event) == {
        "event_id", "event_time", "actor_id", "actor_login", "action", "target_type",
        "target_id", "details", "ip", "user_agent", "request_id",
    }  # fmt: skip
    assert event["event_time"].endswith("Z") and event["ip"] == "127.0.0.1"

    async def actions(**params: str) -> tuple[list[str], int]:
        body = (await client.get("/4/audit", params=params, headers=ADMIN)).json()
        return [e["action"] for e in body["events"]], body["event_count"]

    assert await actions(actor="second@example.com") == (["account.delete"], 1)
    assert await actions(action="account.create") == (["account.create"] * 2, 2)
    assert await actions(action="account") == (
        ["account.delete", "account.create", "account.create"],
        3,
    )
    assert await actions(target_type="task") == (["task.create"], 1)
    assert await actions(target_type="account", target_id=ids["first"]) == (
        ["account.delete", "account.create"],
        2,
    )
    assert await actions(actor="nobody@example.com") == ([], 0)
    page_1 = await actions(page="1", page_size="2")
    page_3 = await actions(page="3", page_size="2")
    assert page_1 == (["session.sign_in", "task.create"], 5)
    assert page_3 == (["account.create"], 5)
    # Time ranges: move the oldest event into the past.
    await db.fetch(
        "UPDATE audit_event SET event_time = '2020-06-01T00:00:00Z' "
        "WHERE event_id = (SELECT min(event_id) FROM audit_event)"
    )
    assert (await actions(event_time__lt="2021-01-01T00:00:00Z"))[1] == 1
    assert (await actions(event_time__gte="2021-01-01T00:00:00+00:00"))[1] == 4


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("action=account.frobnicate", "action"),
        ("action=", None),
        ("target_type=face", "target_type"),
        ("event_time__gte=yesterday", "event_time__gte"),
        ("event_time__lt=2026-01-01T00:00:00", "event_time__lt"),
        ("page=0", "page"),
        ("page_size=1001", "page_size"),
        ("actor=" + "x" * 300, "actor"),
    ],
)
async def test_bad_filters_are_400_naming_themselves(client, query, name):
    response = await client.get(f"/4/audit?{query}", headers=ADMIN)
    if name is None:  # an empty filter is no filter
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json() == {
        "error_code": 12012,
        "desc": "Bad/incomplete input data",
        "detail": f"Bad query parameters '{name}'",
        "link": "/docs/errors#error-12012",
    }


async def test_the_log_is_for_admins_only(client):
    await create_account(client, "plain@example.com", account_type="user")
    assert (await client.get("/4/audit")).status_code == 401
    assert (
        await client.get("/4/audit", headers=basic("plain@example.com", "secret"))
    ).status_code == 403


# ---------------------------------------------------------------- the page


async def test_page_shows_events_and_filters_them(client):
    ids = await _some_history(client)
    page = await client.get("/audit", headers=PAGE)
    assert page.status_code == 200
    assert '<a href="/audit" aria-current="page">Audit</a>' in page.text
    rows = re.findall(r'data-testid="audit-row"[^>]*data-action="([a-z_.]+)"', page.text)
    assert rows == [
        "session.sign_in",
        "task.create",
        "account.delete",
        "account.create",
        "account.create",
    ]
    assert "first@example.com" in page.text  # the login of the deleted account, kept
    assert f'href="/tasks/{ids["task"]}"' in page.text
    assert "5 in all" in page.text

    filtered = await client.get("/audit?action=account.delete", headers=PAGE)
    assert re.findall(r'data-action="([a-z_.]+)"', filtered.text) == ["account.delete"]
    assert '<option value="account.delete" selected>' in filtered.text
    assert "second@example.com" in filtered.text and "1 in all" in filtered.text

    partial = await client.get(
        "/audit?actor=second@example.com", headers={**ADMIN, "HX-Request": "true"}
    )
    assert partial.status_code == 200
    assert "<html" not in partial.text and 'id="audit-table"' in partial.text
    assert re.findall(r'data-action="([a-z_.]+)"', partial.text) == ["account.delete"]


async def test_page_pages_through_the_log(client):
    for i in range(30):
        await create_account(client, f"many{i:02d}@example.com")
    first = await client.get("/audit", headers=PAGE)
    assert first.text.count('data-testid="audit-row"') == 25
    assert 'href="/audit?page=2&page_size=25" rel="next"' in first.text
    second = await client.get("/audit?page=2&page_size=25", headers=PAGE)
    assert second.text.count('data-testid="audit-row"') == 5
    assert "many00@example.com" in second.text and "many29@example.com" not in second.text


async def test_page_with_a_bad_filter_says_what_is_wrong(client):
    page = await client.get("/audit?event_time__gte=soon", headers=PAGE)
    assert page.status_code == 400
    assert 'data-testid="filter-error"' in page.text
    assert "event_time__gte" in page.text
    assert 'data-testid="audit-filters"' in page.text  # the form is still there to fix it


async def test_page_details_are_readable_and_masked(client):
    await client.post(
        "/4/tasks/gc", json={"content": GC_V56, "notification_policy": POLICY}, headers=SEEN
    )
    page = await client.get("/audit", headers=PAGE)
    assert "<dt>task_type</dt>" in page.text and "<dt>content</dt>" in page.text
    assert "********" in page.text
    assert AGENT in page.text and RID in page.text
    assert not [secret for secret in SECRETS if secret in page.text]


async def test_system_events_show_as_system_on_the_page(client):
    sid = int(
        (await client.post("/4/tasks/schedules", json=SCHEDULE, headers=ADMIN)).json()[
            "schedule_id"
        ]
    )
    await schedules.fire(sid, datetime(2030, 1, 1, 4, 5, tzinfo=UTC), settings())
    page = await client.get("/audit?actor=system", headers=PAGE)
    assert re.findall(r'data-action="([a-z_.]+)"', page.text) == ["schedule.run"]
    assert '<span class="badge">system</span>' in page.text


# ---------------------------------------------------------------- retention


async def _aged_log(client) -> None:  # type: ignore[no-untyped-def]
    for login in ("old@example.com", "recent@example.com"):
        await create_account(client, login)
    await db.fetch(
        "UPDATE audit_event SET event_time = now() - interval '400 days' "
        "WHERE details->>'login' = 'old@example.com'"
    )


async def test_purge_forgets_events_older_than_the_retention(client):
    await _aged_log(client)
    assert await audit_service.purge_expired(0) == 0  # 0 keeps everything
    assert await audit_service.purge_expired(500) == 0
    assert await audit_service.purge_expired(365) == 1
    assert [e["details"]["login"] for e in await events()] == ["recent@example.com"]


async def test_housekeeping_applies_the_retention(client):
    await _aged_log(client)
    stop = asyncio.Event()
    running = asyncio.create_task(housekeeping(settings(audit_retention_days=30), stop, every=0.05))
    try:
        await poll_until(lambda: _count_is(1))
    finally:
        stop.set()
        await running
    assert [e["details"]["login"] for e in await events()] == ["recent@example.com"]


async def _count_is(n: int) -> bool:
    return len(await events()) == n


def test_retention_setting_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.delenv("AUDIT_RETENTION_DAYS", raising=False)
    assert Settings.from_env().audit_retention_days == 365
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "0")
    assert Settings.from_env().audit_retention_days == 0
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "-1")
    with pytest.raises(SettingsError, match="AUDIT_RETENTION_DAYS"):
        Settings.from_env()


async def test_old_events_stay_filterable_by_time(client):
    await _aged_log(client)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = (await client.get("/4/audit", params={"event_time__gte": since}, headers=ADMIN)).json()
    assert [e["details"]["login"] for e in body["events"]] == ["recent@example.com"]
