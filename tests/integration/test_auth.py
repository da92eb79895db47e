"""Authentication: Basic and cookie, 401 vs 403, throttling, the credential cache."""

from __future__ import annotations

import base64

from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, basic
from tests.integration.helpers import create_account, sign_in
from webapp import db
from webapp.accounts import authentication


async def test_wrong_password_and_unknown_login_answer_alike(client):
    wrong = await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, "nope"))
    unknown = await client.get("/4/accounts", headers=basic("ghost@example.com", "nope"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error_code"] == 41006


async def test_malformed_basic_header_is_wrong_credentials(client):
    for header in (
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Basic " + base64.b64encode(b"a\x00b@c.de:pw").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:pw").decode(),
        "Bearer abc",
        "Basic",
    ):
        response = await client.get("/4/accounts", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error_code"] == 41006


async def test_non_admin_account_is_forbidden_not_unauthorized(client):
    await create_account(client, "plain@example.com", "secret", account_type="user")
    response = await client.get("/4/accounts", headers=basic("plain@example.com", "secret"))
    assert response.status_code == 403
    assert response.json()["error_code"] == 12033


async def test_non_admin_cannot_get_a_session(client):
    await create_account(client, "adv@example.com", "secret")
    response = await client.post("/4/login", headers=basic("adv@example.com", "secret"))
    assert response.status_code == 403
    assert "luna_admin_session" not in response.cookies


async def test_login_is_throttled_after_repeated_failures(client, app):
    limit = app.state.settings.login_max_failures
    for _ in range(limit):
        response = await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, "wrong"))
        assert response.status_code == 401
    # Even the right password is refused while the lock lasts.
    locked = await client.get("/4/accounts", headers=ADMIN)
    assert locked.status_code == 429
    assert locked.json()["error_code"] == 29003
    assert int(locked.headers["retry-after"]) > 0
    row = await db.fetchrow(
        "SELECT failures FROM login_throttle WHERE key = $1", f"login:{ADMIN_LOGIN}"
    )
    assert row is not None and row["failures"] == limit


async def test_throttling_an_unknown_login_looks_the_same(client, app):
    limit = app.state.settings.login_max_failures
    for _ in range(limit):
        await client.get("/4/accounts", headers=basic("ghost@example.com", "x"))
    response = await client.get("/4/accounts", headers=basic("ghost@example.com", "x"))
    assert response.status_code == 429


async def test_success_resets_the_login_counter(client, app):
    limit = app.state.settings.login_max_failures
    for _ in range(limit - 1):
        await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, "wrong"))
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 200
    for _ in range(limit - 1):
        await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, "wrong"))
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 200


async def test_basic_credentials_are_verified_once_then_remembered(client, monkeypatch):
    calls = []
    real = authentication.verify_password

    async def counting(password, password_hash):
        calls.append(password)
        return await real(password, password_hash)

    monkeypatch.setattr(authentication, "verify_password", counting)
    for _ in range(5):
        assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 200
    assert len(calls) == 1


async def test_remembered_credentials_die_with_a_password_change(client):
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 200
    response = await client.patch("/4/login", json={"password": "changed"}, headers=ADMIN)
    assert response.status_code == 204
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 401
    assert (
        await client.get("/4/accounts", headers=basic(ADMIN_LOGIN, "changed"))
    ).status_code == 200


async def test_remembered_credentials_do_not_outlive_a_change_made_elsewhere(client):
    """Another process changes the hash in the database: our cache must not matter."""
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 200
    from webapp.accounts.passwords import hash_password

    await db.fetch(
        "UPDATE account SET password_hash = $1 WHERE login = $2",
        await hash_password("elsewhere"),
        ADMIN_LOGIN,
    )
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 401


async def test_the_session_cookie_alone_authenticates_changes(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    assert (await client.get("/4/accounts")).status_code == 200
    body = {"login": "cookie@example.com", "password": "secret"}
    created = await client.post("/4/accounts", json=body)
    assert created.status_code == 201, created.text
    assert (await client.get("/4/accounts")).json()["account_count"] == 2


async def test_expired_or_unknown_session_cookie_is_401(client):
    client.cookies.set("luna_admin_session", "not-a-session")
    response = await client.get("/4/accounts")
    assert response.status_code == 401
    assert response.json()["error_code"] == 29013


async def test_expired_session_is_refused(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    await db.fetch("UPDATE auth_session SET expire_time = now() - interval '1 second'")
    assert (await client.get("/4/accounts")).status_code == 401
