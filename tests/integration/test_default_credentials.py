"""Default credentials and sessions (docs/security.md, "Default credentials and sessions"):
the banner while root@visionlabs.ai has the password root, the password page that asks
for the current password, the idle timeout of sessions, and `serve` refusing to start in
production with the default password or without SECRET_KEY."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import (
    ADMIN,
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    HTML,
    PAGE_POST,
    TEST_DATABASE_URL,
    basic,
)
from tests.integration.helpers import app_client, create_account, run_luna_admin, sign_in
from tests.integration.test_pages import page_sign_in
from tests.support.databases import fresh_database, sibling_database
from tests.support.processes import free_port, start_server
from webapp import db
from webapp.accounts import sessions

BANNER = 'data-testid="default-password-banner"'


async def change_root_password(client: httpx.AsyncClient, new: str) -> httpx.Response:
    return await client.post(
        "/password",
        headers=PAGE_POST,
        data={
            "_current_password": ADMIN_PASSWORD,
            "password": new,
            "_password_confirm": new,
        },
    )


# -- the banner ----------------------------------------------------------------


async def test_every_page_warns_while_the_default_password_is_valid(client, app):
    await page_sign_in(client)
    for path in ("/", "/lists", "/tasks", "/tasks/schedules", "/audit", "/system", "/password"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert BANNER in page.text, path
        assert '<a href="/password">Change the password</a>' in page.text
    # JSON and fragments carry no banner.
    assert BANNER not in (await client.get("/4/accounts", headers=ADMIN)).text
    fragment = await client.get("/accounts", headers={"HX-Request": "true"})
    assert BANNER not in fragment.text

    assert (await change_root_password(client, "a-better-one")).status_code == 303
    after = await client.get("/", headers=HTML)
    assert after.status_code == 200 and BANNER not in after.text


async def test_the_banner_costs_one_verification_per_password(client, app):
    """An argon2 verification per page view would make every page tens of ms slower."""
    check = app.state.default_password
    await page_sign_in(client)
    before = check.verifications
    for _ in range(5):
        assert BANNER in (await client.get("/accounts", headers=HTML)).text
    assert check.verifications - before <= 1  # the first view, if nothing asked before
    # A change made elsewhere (another process, the command line) is noticed at once.
    await db.fetch(
        "UPDATE account SET password_hash = $2 WHERE login = $1",
        ADMIN_LOGIN,
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aW52YWxpZGhhc2hpbnZhbGlkaGFzaA",
    )
    await client.get("/4/accounts", headers=ADMIN)  # (the session cookie still works)
    page = await client.get("/accounts", headers=HTML)
    assert BANNER not in page.text


async def test_another_admin_is_pointed_at_the_default_account(client):
    await create_account(client, "ops@example.com", "0ps-pass", account_type="admin")
    await sign_in(client, "ops@example.com", "0ps-pass")
    page = await client.get("/accounts", headers=HTML)
    assert BANNER in page.text
    root = (await client.get("/4/search", params={"q": ADMIN_LOGIN}, headers=ADMIN)).json()
    assert f'href="/accounts/{root["data"]["info"]["account_id"]}"' in page.text


async def test_no_banner_tells_a_visitor_the_default_password(client):
    page = await client.get("/login", headers=HTML)
    assert page.status_code == 200 and BANNER not in page.text


# -- the password page ------------------------------------------------------------


async def test_the_password_page_asks_for_the_current_password(client):
    await page_sign_in(client)
    page = await client.get("/password", headers=HTML)
    assert 'name="_current_password"' in page.text
    base = {
        "password": "taken-over",
        "_password_confirm": "taken-over",
    }
    missing = await client.post("/password", headers=PAGE_POST, data=base)
    assert missing.status_code == 400 and "enter your current password" in missing.text
    wrong = await client.post(
        "/password", headers=PAGE_POST, data={**base, "_current_password": "guess"}
    )
    assert wrong.status_code == 400 and "current password is not correct" in wrong.text
    assert (await client.get("/4/login", headers=ADMIN)).status_code == 200  # unchanged
    refused = await db.fetchrow(
        "SELECT count(*) AS n FROM audit_event WHERE action = 'session.sign_in_failed'"
    )
    assert refused is not None and refused["n"] == 1  # a wrong guess counts as one


async def test_the_api_keeps_the_reference_rule(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    extra = await client.patch(
        "/4/login", json={"password": "x1", "current_password": ADMIN_PASSWORD}, headers=ADMIN
    )
    assert extra.status_code == 400 and extra.json()["error_code"] == 12022
    too_long = await client.patch("/4/login", json={"password": "x" * 129}, headers=ADMIN)
    assert too_long.status_code == 400
    one = await client.patch("/4/login", json={"password": "x"}, headers=ADMIN)
    assert one.status_code == 204
    assert (await client.get("/4/login", headers=basic(ADMIN_LOGIN, "x"))).status_code == 200


# -- the idle timeout ------------------------------------------------------------


async def last_seen() -> Any:
    row = await db.fetchrow("SELECT last_seen_time FROM auth_session")
    assert row is not None
    return row["last_seen_time"]


async def age_session(seconds: float) -> None:
    await db.fetch(
        "UPDATE auth_session SET last_seen_time = now() - make_interval(secs => $1)", seconds
    )


async def test_a_session_ends_after_the_idle_timeout(client):
    async with app_client(session_idle_timeout=60) as short:
        await sign_in(short, ADMIN_LOGIN, ADMIN_PASSWORD)
        assert (await short.get("/4/login")).status_code == 200
        await age_session(59)
        assert (await short.get("/4/login")).status_code == 200  # and it counted as activity
        await age_session(30)
        assert (await short.get("/4/login")).status_code == 200
        await age_session(61)
        ended = await short.get("/4/login")
        assert ended.status_code == 401 and ended.json()["error_code"] == 29013
        page = await short.get("/accounts", headers=HTML)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_last_seen_is_refreshed_at_most_once_a_minute(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)  # the default: idle 30 min, touch 60 s
    await age_session(30)
    seen = await last_seen()
    for _ in range(3):
        assert (await client.get("/4/login")).status_code == 200
    assert await last_seen() == seen  # fresh enough: no write
    await age_session(61)
    stale = await last_seen()
    assert (await client.get("/4/login")).status_code == 200
    assert await last_seen() - stale > timedelta(seconds=60)  # refreshed


async def test_a_polling_page_does_not_keep_its_session_alive(client):
    async with app_client(session_idle_timeout=60) as short:
        await sign_in(short, ADMIN_LOGIN, ADMIN_PASSWORD)
        await age_session(50)
        seen = await last_seen()
        poll = await short.get("/tasks", headers={"HX-Request": "true", "Luna-Poll": "1"})
        assert poll.status_code == 200
        assert await last_seen() == seen
        await age_session(61)
        assert (await short.get("/4/login")).status_code == 401


async def test_the_absolute_lifetime_still_ends_a_busy_session(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    await db.fetch("UPDATE auth_session SET expire_time = now() - interval '1 second'")
    assert (await client.get("/4/login")).status_code == 401


def test_touching_is_coarser_than_the_timeout():
    assert sessions.touch_interval(1800) == 60
    assert sessions.touch_interval(60) == 6
    assert sessions.touch_interval(5) == 1


# -- serve in production ------------------------------------------------------------


def luna_admin(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`luna-admin` in production (a free port, should it start after all)."""
    production = {
        "SECRET_KEY": "prod-test",
        "LUNA_ADMIN_ENV": "production",
        "COOKIE_SECURE": "1",
        "PORT": str(free_port()),
    }
    return run_luna_admin(database_url, *args, **{**production, **env})


async def test_production_refuses_to_serve_without_a_secret_key(client):
    result = luna_admin(TEST_DATABASE_URL, "serve", SECRET_KEY="")
    assert result.returncode == 2, result.stderr
    assert "refusing to serve with LUNA_ADMIN_ENV=production" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


async def test_production_refuses_the_default_password_until_it_is_changed(client, tmp_path):
    result = luna_admin(TEST_DATABASE_URL, "serve")
    assert result.returncode == 2, result.stderr
    assert "root@visionlabs.ai still has the password 'root'" in result.stderr
    assert "luna-admin set-password root@visionlabs.ai" in result.stderr

    changed = luna_admin(TEST_DATABASE_URL, "set-password", ADMIN_LOGIN, "--password", "pr0d-pw")
    assert changed.returncode == 0, changed.stderr
    server = start_server(
        "production",
        TEST_DATABASE_URL,
        tmp_path,
        LUNA_ADMIN_ENV="production",
        SECRET_KEY="prod-test",
        COOKIE_SECURE="1",
    )
    try:
        await server.wait_until_up()
        async with httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
            answer = await http.get("/4/login", headers=basic(ADMIN_LOGIN, "pr0d-pw"))
            assert answer.status_code == 200
    finally:
        server.stop()


@pytest.mark.slow
async def test_production_creates_no_default_admin(client):
    url, name, maintenance = sibling_database(TEST_DATABASE_URL or "", "_production")
    await fresh_database(url, name, maintenance)
    result = luna_admin(url, "serve")
    assert result.returncode == 2, result.stderr
    assert "there is no admin account" in result.stderr
    assert "luna-admin create-admin" in result.stderr
    development = luna_admin(url, "check", LUNA_ADMIN_ENV="development")
    assert "still has the password" not in development.stdout  # nobody was created
