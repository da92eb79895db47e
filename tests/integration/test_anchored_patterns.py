"""Every pattern is anchored for real: Python's `$` also matches before a final
newline, JSON Schema's does not. A value with a trailing newline (or any other
line break) is refused wherever a pattern or an id format is checked, and
nothing is stored."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import ADMIN, basic
from tests.integration.helpers import account_count
from webapp.web.body import anchored, validate
from webapp.web.errors import LunaError

ACCOUNT_ID = "557d54ec-29ad-4f3c-93b4-c9092ef12515"


@pytest.mark.parametrize(
    "body",
    [
        {"login": "a@example.com\n", "password": "secret"},
        {"login": "a@example.com\r\n", "password": "secret"},
        {"login": "a@example.com\nb@example.com", "password": "secret"},
        {"email": "a@example.com\n", "password": "secret"},  # the legacy scheme
        {"login": "a@example.com", "password": "secret\n"},
    ],
)
async def test_a_login_or_password_with_a_line_break_is_refused(client, body):
    for method, path in (("POST", "/4/accounts"), ("PUT", f"/4/accounts/{ACCOUNT_ID}")):
        response = await client.request(method, path, json=body, headers=ADMIN)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error_code"] == 12022
    assert await account_count() == 1
    signed_in = await client.get("/4/login", headers=basic("a@example.com\n", "secret"))
    assert signed_in.status_code == 401


async def test_a_password_change_with_a_trailing_newline_is_refused(client):
    response = await client.patch("/4/login", json={"password": "new\n"}, headers=ADMIN)
    assert response.status_code == 400
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 200


async def test_notification_policy_patterns_are_anchored(client):
    made = await client.post(
        "/4/tasks/gc", json={"content": {"target": "face_attributes"}}, headers=ADMIN
    )
    path = f"/4/tasks/{made.json()['task_id']}/notification_policy"
    for callback in (
        {"type": "telegram", "token": "123:abc\n", "chat_id": 1},
        {
            "type": "http",
            "url": "https://hooks.example.com/x",
            "params": {"headers": {"X-A\n": "1"}},
        },
        {
            "type": "http",
            "url": "https://hooks.example.com/x",
            "params": {"headers": {"X-A": "1\n"}},
        },
        {"type": "http", "url": "https://hooks.example.com/x\n"},
        {"type": "http", "url": "https://hooks.example.com/x", "params": {"content_type": "a/b\n"}},
    ):
        response = await client.put(path, json={"task_callbacks": [callback]}, headers=ADMIN)
        assert response.status_code == 400, (callback, response.text)
        assert response.json()["error_code"] == 12022
    stored = await client.get(path, headers=ADMIN)
    assert stored.json()["task_callbacks"] == []


@pytest.mark.parametrize(
    "path",
    [
        f"/4/accounts/{ACCOUNT_ID}%0A",
        f"/4/accounts/{ACCOUNT_ID}%0A/lists",
        f"/4/lists/{ACCOUNT_ID}%0A",
        f"/4/lists?account_id={ACCOUNT_ID}%0A",
        "/4/tasks/1%0A",
        "/4/tasks?task_ids=1%0A",
        "/4/tasks?page=1%0A",
        "/4/errors/1%0A",
        "/4/tasks/schedules/1%0A",
    ],
)
async def test_ids_in_paths_and_queries_with_a_newline_are_bad_parameters(client, path):
    response = await client.get(path, headers=ADMIN)
    assert response.status_code == 400, (path, response.text)
    assert response.json()["error_code"] == 12012


async def test_search_for_an_id_with_a_newline_finds_nothing(client):
    response = await client.get(f"/4/search?q={ACCOUNT_ID}%0A", headers=ADMIN)
    assert response.status_code == 404


def test_the_validator_reads_dollar_as_the_end_of_the_string():
    schema = {"type": "string", "pattern": "^[a-z]+$"}
    validate("abc", schema)
    for value in ("abc\n", "abc\r\n", "ab\nc"):
        with pytest.raises(LunaError):
            validate(value, schema)
    # `$` inside a class or escaped is a plain dollar sign.
    assert anchored(r"^[$]\$$").search("$$")
    assert not anchored(r"^[$]\$$").search("$$\n")
    assert anchored(r"^[]$]+$").search("]$]")


async def test_a_valid_login_still_works(client):
    login = f"ok{uuid.uuid4().hex[:6]}@example.com"
    response = await client.post(
        "/4/accounts", json={"login": login, "password": "secret"}, headers=ADMIN
    )
    assert response.status_code == 201
