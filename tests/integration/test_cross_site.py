"""Cross-site requests are refused by their origin, not by a token (ROUTES.md
"Cross-site requests", webapp/web/origin.py).

A client that knows only the reference uses the session cookie alone; a browser
says where a request comes from (Sec-Fetch-Site, Origin), and a change that
comes from another site, another port included, is refused with 403 29200
whatever credentials ride along. The browser half of this (a page on another
port posting a form and calling fetch) is e2e/test_cross_site.py.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, HTML, basic
from tests.conftest import test_settings as make_settings
from tests.integration.helpers import account_count, sign_in
from webapp import db
from webapp.app import create_app

NEW = {"login": "forged@example.com", "password": "secret"}

FOREIGN = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain, or another port of this host
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    {"Origin": "http://evil.example.com"},
    {"Origin": "http://testserver:8080"},  # another port: another origin
    {"Origin": "https://testserver"},  # another scheme: another origin
    {"Origin": "null"},  # a sandboxed frame, a file: page
    {"Origin": "http://testserver.evil.example.com"},
    {"Origin": "http://testserver/path"},  # not an origin at all
]
OWN = [
    {},  # no browser: a script, curl, a reference-only client
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    {"Origin": "http://testserver"},  # a browser without Fetch Metadata
    {"Origin": "HTTP://TESTSERVER:80"},  # the same origin, spelled otherwise
    {"Sec-Fetch-Site": "none"},  # typed into the address bar
    {"Sec-Fetch-Site": "same-origin"},
]


async def session_count() -> int:
    row = await db.fetchrow("SELECT count(*) AS n FROM auth_session")
    assert row is not None
    return int(row["n"])


@pytest.mark.parametrize("forged", FOREIGN)
async def test_a_cookie_authenticated_change_from_another_site_is_refused(client, forged):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    response = await client.post("/4/accounts", json=NEW, headers=forged)
    assert response.status_code == 403, forged
    assert response.json()["error_code"] == 29200
    assert await account_count() == 1


@pytest.mark.parametrize("headers", OWN)
async def test_a_cookie_authenticated_change_of_this_origin_or_of_no_browser_passes(
    client, headers
):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    response = await client.post("/4/accounts", json=NEW, headers=headers)
    assert response.status_code == 201, (headers, response.text)


async def test_every_unsafe_method_is_checked_and_reads_are_not(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    forged = {"Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-site"}
    for method, path, body in (
        ("PATCH", "/4/login", {"password": "taken-over"}),
        ("DELETE", "/4/login", None),
        ("PUT", "/4/accounts/557d54ec-29ad-4f3c-93b4-c9092ef12515", NEW),
        ("POST", "/logout", None),
        ("POST", "/password", {"password": "taken-over"}),
    ):
        response = await client.request(method, path, json=body, headers=forged)
        assert response.status_code == 403, (method, path, response.text)
    # Nothing changed: the session lives, the password is the old one, no account.
    assert (await client.get("/4/login")).status_code == 200
    assert (await client.get("/4/accounts", headers=basic())).status_code == 200
    assert await account_count() == 1
    # Reads from another site are answered (the browser keeps the answer from the
    # other site's page; nothing changes).
    for path in ("/4/login", "/4/accounts", "/version"):
        assert (await client.get(path, headers=forged)).status_code == 200, path


async def test_basic_credentials_do_not_excuse_a_cross_site_change(client):
    """A browser that signed in through the Basic dialog replays those credentials on
    any request to the service, a forged one included."""
    response = await client.post(
        "/4/accounts", json=NEW, headers={**ADMIN, "Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert await account_count() == 1
    plain = await client.post("/4/accounts", json=NEW, headers=ADMIN)
    assert plain.status_code == 201


async def test_the_sign_in_form_from_another_site_signs_nobody_in(client):
    """Login CSRF: a forged sign-in would put the victim in the attacker's session."""
    for forged in ({"Origin": "https://evil.example.com"}, {"Sec-Fetch-Site": "cross-site"}):
        response = await client.post(
            "/login",
            headers={**HTML, **forged},
            data={"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD},
        )
        assert response.status_code == 403
        assert "luna_admin_session" not in response.cookies
    assert await session_count() == 0
    api = await client.post("/4/login", headers={**ADMIN, "Sec-Fetch-Site": "cross-site"})
    assert api.status_code == 403
    assert await session_count() == 0


async def test_a_forged_sign_in_does_not_count_as_a_failed_one(client, app):
    """Refused before the credentials are looked at: another site cannot lock the
    owner out through the owner's own browser."""
    limit = app.state.authenticator.policy.max_failures
    for _ in range(limit + 2):
        forged = await client.post(
            "/4/login", headers={**basic(ADMIN_LOGIN, "guess"), "Sec-Fetch-Site": "cross-site"}
        )
        assert forged.status_code == 403
    assert (await client.post("/4/login", headers=ADMIN)).status_code == 201


async def test_the_refusal_is_a_page_for_a_browser_and_says_why(client):
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    response = await client.post(
        "/accounts", headers={**HTML, "Origin": "http://localhost:5010"}, data=NEW
    )
    assert response.status_code == 403
    assert "<html" in response.text
    assert "http://localhost:5010" in response.text and "http://testserver" in response.text


async def test_public_origins_replace_the_host_behind_a_proxy(client):
    """Behind a TLS proxy the service sees http and perhaps another Host; with
    PUBLIC_ORIGINS only the origins named count, and a forged Host changes nothing."""
    app = create_app(make_settings(public_origins=("https://admin.example.com",)))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5010") as proxied:
        await proxied.post("/4/login", headers=ADMIN)
        answers = {}
        for origin, host in (
            ("https://admin.example.com", "127.0.0.1:5010"),
            ("https://admin.example.com:443", "admin.example.com"),
            ("http://127.0.0.1:5010", "127.0.0.1:5010"),  # the Host agrees, but is not named
            ("https://evil.example.com", "evil.example.com"),  # a forged Host changes nothing
        ):
            response = await proxied.post(
                "/4/accounts",
                json={"login": f"{len(answers)}@example.com", "password": "secret"},
                headers={"Origin": origin, "Host": host},
            )
            answers[(origin, host)] = response.status_code
    assert list(answers.values()) == [201, 201, 403, 403]
