"""Bodies are bounded while they are read (docs/security.md, "Limits on requests").

Field count, field size, nesting and total size of forms (urlencoded and
multipart), size, items and depth of JSON, and the time a body may take: each
refused with its documented 4xx before any of it is converted, and nothing is
changed. The flood this prevents is measured by bench/flood.py; slow clients
against a real server in test_http_server_edge.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests import conftest
from tests.conftest import ADMIN, HTML
from tests.integration.helpers import account_count
from tests.integration.tasks_helpers import create_gc
from webapp import db
from webapp.app import create_app
from webapp.web import request_limits as limits

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def fields(count: int, size: int = 1) -> bytes:
    return b"&".join(b"f%d=%s" % (index, b"v" * size) for index in range(count))


async def chunks(body: bytes, size: int = 16384) -> AsyncIterator[bytes]:
    """A body sent chunked, without Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_refused(answer: Any, status: int, code: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error_code"] == code
    assert answer.headers["connection"] == "close"


async def failed_sign_ins() -> int:
    row = await db.fetchrow(
        "SELECT count(*) AS n FROM audit_event WHERE action = 'session.sign_in_failed'"
    )
    assert row is not None
    return int(row["n"])


async def test_the_flood_of_the_issue_is_refused_unread(client):
    """A 1 MB form of 95,000 fields to the sign-in form, announced or chunked."""
    body = fields(95_000, 3)[: 1024 * 1024]
    announced = await client.post("/login", content=body, headers=FORM)
    assert_refused(announced, 413, 37003)
    assert announced.json()["detail"] == "Request payload is too large"  # LUNA's own words
    chunked = await client.post("/login", content=chunks(body), headers=FORM)
    assert_refused(chunked, 413, 29220)
    assert await failed_sign_ins() == 0  # no password was checked


@pytest.mark.parametrize("route", ["/login", "/4/accounts"])
async def test_form_fields_are_counted_while_read(client, route):
    at_limit = fields(limits.FORM_MAX_FIELDS)
    answer = await client.post(route, content=at_limit, headers={**FORM, **ADMIN})
    assert answer.status_code < 413  # read, then refused for what it says
    over = fields(limits.FORM_MAX_FIELDS + 1)
    assert_refused(await client.post(route, content=over, headers={**FORM, **ADMIN}), 413, 29220)
    assert_refused(
        await client.post(route, content=chunks(over, 100), headers={**FORM, **ADMIN}), 413, 29220
    )
    assert await account_count() == 1


async def test_a_form_field_too_large_is_refused(client):
    big = b"login=a@b.cd&description=" + b"x" * limits.FORM_MAX_FIELD_BYTES + b"&password=abc"
    for body in (big, chunks(big, 1000)):
        answer = await client.post("/4/accounts", content=body, headers={**FORM, **ADMIN})
        assert_refused(answer, 413, 29221)
    assert await account_count() == 1


async def test_form_names_nest_only_so_deep(client):
    name = ".".join(["a"] * (limits.FORM_MAX_NESTING + 1))
    answer = await client.post(
        "/4/accounts", content=f"{name}=1&login=a@b.cd&password=abc", headers={**FORM, **ADMIN}
    )
    assert answer.status_code == 400 and answer.json()["error_code"] == 29222
    assert await account_count() == 1


def multipart(parts: list[tuple[str, bytes]], charset: str = "") -> tuple[bytes, dict[str, str]]:
    boundary = "luna-boundary-7f3a"
    body = b"".join(
        b'--%s\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
        % (
            boundary.encode(),
            name.encode(),
            f"\r\nContent-Type: text/plain; charset={charset}".encode() if charset else b"",
            value,
        )
        for name, value in parts
    )
    body += b"--%s--\r\n" % boundary.encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_multipart_forms_have_the_same_limits(client):
    ok, headers = multipart([("login", b"mp@example.com"), ("password", b"secret")])
    created = await client.post("/4/accounts", content=ok, headers={**headers, **ADMIN})
    assert created.status_code == 201, created.text
    many, headers = multipart([(f"f{index}", b"v") for index in range(limits.FORM_MAX_FIELDS + 1)])
    answer = await client.post("/4/accounts", content=many, headers={**headers, **ADMIN})
    assert_refused(answer, 413, 29220)
    large, headers = multipart([("description", b"x" * limits.FORM_MAX_FIELD_BYTES)])
    answer = await client.post("/4/accounts", content=chunks(large), headers={**headers, **ADMIN})
    assert_refused(answer, 413, 29221)
    assert await account_count() == 2


@pytest.mark.parametrize(
    ("charset", "value"), [("bogus-charset", b"x"), ("utf-8", b"\xff\xfe"), ("", b"\xc3")]
)
async def test_an_undecodable_multipart_form_is_a_bad_form(client, charset, value):
    body, headers = multipart([("login", value), ("password", b"abc")], charset)
    answer = await client.post("/4/accounts", content=body, headers={**headers, **ADMIN})
    assert answer.status_code == 400 and answer.json()["error_code"] == 29016
    broken = await client.post(
        "/4/accounts", content=b"--x\r\ngarbage", headers={**headers, **ADMIN}
    )
    assert broken.status_code == 400 and broken.json()["error_code"] == 29016
    assert await account_count() == 1


async def test_json_over_the_size_limit_is_refused_even_chunked(client):
    body = b'{"login": "a@b.cd", "password": "abc", "description": "' + b"x" * (2 << 20) + b'"}'
    assert_refused(
        await client.post("/4/accounts", content=chunks(body, 65536), headers={**JSON, **ADMIN}),
        413,
        37003,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"[" + b"[]," * 300_000 + b"[]]",  # a million bytes of arrays: 126 ms of json.loads
        b"[" * 500_000 + b"]" * 500_000,
        b'{"login": "a@b.cd", "password": "abc", "x": [' + b"1," * 20_000 + b"1]}",
    ],
)
async def test_json_with_too_many_items_is_refused_unparsed(client, body):
    started = time.perf_counter()
    answer = await client.post("/4/accounts", content=body, headers={**JSON, **ADMIN})
    assert answer.status_code == 413 and answer.json()["error_code"] == 29223
    assert time.perf_counter() - started < 1.0
    assert await account_count() == 1


async def test_json_nests_only_so_deep(client):
    def nested(depth: int) -> bytes:
        inner = "[" * (depth - 1) + "]" * (depth - 1)
        return f'{{"login": "a@b.cd", "password": "abc", "description": {inner}}}'.encode()

    deepest = await client.post(
        "/4/accounts", content=nested(limits.JSON_MAX_DEPTH), headers={**JSON, **ADMIN}
    )
    assert deepest.status_code == 400 and deepest.json()["error_code"] == 12022  # read
    deeper = await client.post(
        "/4/accounts", content=nested(limits.JSON_MAX_DEPTH + 1), headers={**JSON, **ADMIN}
    )
    assert deeper.status_code == 400 and deeper.json()["error_code"] == 29224
    assert await account_count() == 1


async def test_the_policy_textarea_is_json_with_the_same_limits(client):
    task_id = await create_gc(
        client, {"target": "face_descriptors", "filters": {"descriptor_version": 56}}
    )
    deep = "[" * 40 + "]" * 40
    answer = await client.post(
        f"/tasks/{task_id}/notification_policy",
        data={"policy": '{"enable": 1, "task_callbacks": ' + deep + "}"},
        headers={**HTML, **ADMIN},
    )
    assert answer.status_code == 422 and "deeper than 32 levels" in answer.text
    api = await client.put(
        f"/4/tasks/{task_id}/notification_policy", content=deep, headers={**JSON, **ADMIN}
    )
    assert api.status_code == 400 and api.json()["error_code"] == 29224


async def call(app: Any, receive: Any, body_length: int = 100) -> tuple[int, dict[str, Any]]:
    """One POST /4/accounts straight into the ASGI app, with its own `receive`."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/4/accounts",
        "raw_path": b"/4/accounts",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(body_length).encode()),
            *((name.lower().encode(), value.encode()) for name, value in ADMIN.items()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {**json.loads(body), "headers": dict(start["headers"])}


async def test_a_trickled_body_is_cut_off(client):
    app = create_app(conftest.test_settings(request_read_timeout=1.0))
    messages = [b'{"login": "slow@example.com", ', b'"password": ']

    async def trickle() -> dict[str, Any]:
        if messages:
            await asyncio.sleep(0.4)
            return {"type": "http.request", "body": messages.pop(0), "more_body": True}
        await asyncio.sleep(3600)  # the rest never comes
        raise AssertionError("not cancelled")

    started = time.perf_counter()
    status, answer = await call(app, trickle)
    assert status == 408 and answer["error_code"] == 29225
    assert answer["headers"][b"connection"] == b"close"
    assert 1.0 <= time.perf_counter() - started < 2.0
    assert await account_count() == 1


async def test_a_client_gone_mid_body_changes_nothing(client):
    app = create_app(conftest.test_settings())
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"login": "gone@example.com"', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    status, answer = await call(app, receive)
    assert status == 400 and answer["error_code"] == 29226
    assert await account_count() == 1


def test_the_json_item_count_is_an_upper_bound_of_the_values():
    assert limits.load_json(b'{"a": [1, 2, {"b": "c,d[e{"}]}') == {"a": [1, 2, {"b": "c,d[e{"}]}
    with pytest.raises(ValueError):
        limits.load_json(b'{"a": ')
