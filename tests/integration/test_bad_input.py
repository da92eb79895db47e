"""No request, however malformed, gets a 500 or writes anything."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN
from tests.integration.helpers import account_count

BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"123",
    b"{",
    b'{"login": }',
    b"\xff\xfe",
    b'{"login": "a@b.cd", "password": null}',
    b'{"login": ["a@b.cd"], "password": "x"}',
    b'{"login": {"$ne": 1}, "password": "xyz"}',
    b'{"login": "a@b.cd", "password": "xyz", "description": "\\u0000"}',
    b'{"login": "a\\u0000@b.cd", "password": "xyz"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"description": "' + b"x" * 5000 + b'", "login": "a@b.cd", "password": "xyz"}',
]
PATHS = [
    "/4/accounts/%00",
    "/4/accounts/..%2F..%2Fetc",
    "/4/accounts/" + "a" * 5000,
    "/4/lists?account_id=%27%20OR%201=1",
    "/4/search?q=%00",
    "/4/search?q=" + "x" * 300,
    "/4/accounts?page=99999999999999999999",
    "/4/accounts?page_size=%F0%9F%98%80",
    "/4/accounts?create_time__lt=2021-13-45T99:00:00Z",
    "/4/search?q=a%00@b.cd",
    "/4/accounts?create_time__gte=%00",
]


@pytest.mark.parametrize("body", BODIES)
async def test_malformed_account_bodies(client, body):
    for method, path in (
        ("POST", "/4/accounts"),
        ("PUT", "/4/accounts/6f1c3b1e-7a1b-4a5f-9f0e-0a1b2c3d4e5f"),
    ):
        response = await client.request(
            method, path, content=body, headers={**ADMIN, "Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (body, response.text)
        assert {"error_code", "desc", "detail", "link"} <= set(response.json())
    assert await account_count() == 1


@pytest.mark.parametrize("path", PATHS)
async def test_malformed_paths_and_queries(client, path):
    response = await client.get(path, headers=ADMIN)
    assert 400 <= response.status_code < 500, (path, response.text)
    assert "error_code" in response.json()


async def test_oversized_body_is_refused(client):
    body = b'{"login": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/4/accounts", content=body, headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error_code"] == 37003


async def test_malformed_form_bodies(client):
    for body in (b"%ZZ=%%", b"login=\xff\xfe&password=abc", b"&&&==", b"login"):
        response = await client.post(
            "/4/accounts",
            content=body,
            headers={**ADMIN, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert 400 <= response.status_code < 500, (body, response.text)
    assert await account_count() == 1


async def test_odd_headers(client):
    for headers in (
        {"Accept": "\x01garbage;;q=x"},
        {"Content-Type": "application/json; charset=bogus"},
        {"Authorization": "Basic " + "A" * 10000},
        {"Cookie": "luna_admin_session=" + "x" * 4000},
    ):
        response = await client.get(
            "/4/accounts",
            headers={**ADMIN, **headers} if "Authorization" not in headers else headers,
        )
        assert response.status_code < 500, (headers, response.text)
