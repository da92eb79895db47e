"""Routes 10-13: /4/login."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, basic
from tests.integration.helpers import sign_in
from webapp import db


async def session_count() -> int:
    row = await db.fetchrow("SELECT count(*) AS n FROM auth_session")
    assert row is not None
    return int(row["n"])


async def test_post_login_sets_a_cookie_and_get_checks_it(client):
    response = await client.post("/4/login", headers=ADMIN)
    assert response.status_code == 201
    # No body, and no Content-Type claiming one.
    assert response.content == b""
    assert "content-type" not in response.headers
    assert "x-csrf-token" not in response.headers
    cookie = response.headers["set-cookie"]
    assert "luna_admin_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    check = await client.get("/4/login")
    assert check.status_code == 200
    assert check.text == "Ok"
    assert check.headers["content-type"].startswith("text/plain")


async def test_get_login_without_cookie_is_401(client):
    response = await client.get("/4/login")
    assert response.status_code == 401


async def test_post_login_needs_credentials(client):
    response = await client.post("/4/login")
    assert response.status_code == 401
    assert response.json()["error_code"] == 12010


async def test_post_login_with_wrong_password(client):
    response = await client.post("/4/login", headers=basic(ADMIN_LOGIN, "bad"))
    assert response.status_code == 401
    assert response.json() == {
        "error_code": 41006,
        "desc": "Account credentials wrong",
        "detail": "Account login or password are incorrect",
        "link": "/docs/errors#error-41006",
    }
    assert await session_count() == 0


async def test_signing_in_again_rotates_the_session(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    first = client.cookies["luna_admin_session"]
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    second = client.cookies["luna_admin_session"]
    assert first != second
    assert await session_count() == 1
    client.cookies.set("luna_admin_session", first)
    assert (await client.get("/4/login")).status_code == 401


async def test_delete_login_ends_the_session(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    old = client.cookies["luna_admin_session"]
    response = await client.delete("/4/login")  # the cookie alone
    assert response.status_code == 204
    assert 'luna_admin_session=""' in response.headers["set-cookie"]
    assert await session_count() == 0
    client.cookies.set("luna_admin_session", old)
    assert (await client.get("/4/login")).status_code == 401


async def test_delete_login_without_any_credentials(client):
    response = await client.delete("/4/login")
    assert response.status_code == 401
    assert response.json()["error_code"] == 12010


async def test_patch_login_changes_password_and_ends_other_sessions(client, app):
    transport = httpx.ASGITransport(app=app, client=("127.0.0.2", 40001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await sign_in(other, ADMIN_LOGIN, ADMIN_PASSWORD)
        assert (await other.get("/4/login")).status_code == 200
        await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
        response = await client.patch("/4/login", json={"password": "n3w"})  # the cookie alone
        assert response.status_code == 204
        assert "luna_admin_session=" in response.headers["set-cookie"]
        # This client got a fresh session; the other one was signed out.
        assert (await client.get("/4/login")).status_code == 200
        assert (await other.get("/4/login")).status_code == 401
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 401
    assert (await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, "n3w"))).status_code == 200


async def test_patch_login_bad_bodies_change_nothing(client):
    cases = [
        ({"content": b""}, 12002),
        ({"content": b"{not json"}, 12002),
        ({"json": {}}, 12005),
        ({"json": {"password": ""}}, 12022),
        ({"json": {"password": "x" * 129}}, 12022),
        ({"json": {"password": 123}}, 12022),
        ({"json": {"password": "ok", "extra": 1}}, 12022),
        ({"json": ["password"]}, 12022),
        ({"content": b"password=x", "headers": {"Content-Type": "text/plain"}}, 12002),
        ({"content": b'{"password": "x"}', "headers": {"Content-Type": "text/plain"}}, 12002),
        ({"content": b"<password>x</password>", "headers": {"Content-Type": "text/xml"}}, 12002),
    ]
    for kwargs, code in cases:
        headers = {**ADMIN, **kwargs.pop("headers", {})}
        if "content" in kwargs and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        response = await client.patch("/4/login", headers=headers, **kwargs)
        assert response.json()["error_code"] == code, (kwargs, response.text)
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 200


async def test_validation_error_names_path_and_reason(client):
    response = await client.patch("/4/login", json={"password": 5}, headers=ADMIN)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "Path: 'password'" in detail and "is not of type 'string'" in detail
