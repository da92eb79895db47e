"""The headers of every answer (docs/security.md, "Response headers").

Every answer: nosniff. Pages: a CSP of the service's own origin with no
framing, X-Frame-Options DENY, Referrer-Policy same-origin. Authenticated
answers and answers that set a cookie: Cache-Control no-store. "Every answer"
includes 404, 405, errors raised before routing, static files and /version.
The HTTP server's own answers are checked against a real server in
test_http_server_edge.py; that the pages work under the CSP, in Chromium
(e2e/test_security_headers.py).
"""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, ADMIN_LOGIN, ADMIN_PASSWORD, HTML
from tests.integration.helpers import create_account, sign_in

ANY_ANSWER = [
    ("GET", "/version", {}),
    ("GET", "/version", HTML),
    ("GET", "/no/such/route", {}),
    ("GET", "/no/such/route", HTML),
    ("DELETE", "/version", {}),
    ("GET", "/4/accounts", {}),
    ("GET", "/4/accounts", HTML),
    ("GET", "/4/accounts", {"Luna-Request-Id": "forged"}),
    ("GET", "/4/accounts%ZZ", {}),
    ("GET", "/static/css/app.css", {}),
    ("GET", "/static/favicon.svg", {}),
    ("GET", "/static/css/missing.css", {}),
    ("GET", "/docs/errors", HTML),
    ("GET", "/docs/spec", {"Accept": "application/x-yaml"}),
    ("GET", "/healthcheck", {}),
    ("GET", "/metrics", {}),
    ("GET", "/login", HTML),
    ("GET", "/4/accounts", ADMIN),
    ("GET", "/4/accounts?page=0", ADMIN),
    ("GET", "/accounts", {**ADMIN, **HTML}),
    ("POST", "/4/login", ADMIN),
]


@pytest.mark.parametrize(("method", "path", "headers"), ANY_ANSWER)
async def test_every_answer_says_nosniff(client, method, path, headers):
    answer = await client.request(method, path, headers=headers)
    assert answer.headers["x-content-type-options"] == "nosniff", answer.status_code
    assert "luna-request-id" in answer.headers


async def test_a_body_refused_before_routing_says_nosniff_and_closes(client):
    answer = await client.post(
        "/login",
        content=b"x" * 300_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["connection"] == "close"


def assert_page_headers(answer) -> None:  # type: ignore[no-untyped-def]
    assert answer.headers["content-type"].startswith(("text/html", "image/svg+xml"))
    policy = answer.headers["content-security-policy"]
    directives = dict(
        ([*part.strip().split(" ", 1), ""])[:2] for part in policy.split(";") if part.strip()
    )
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "same-origin"


async def test_pages_forbid_framing_and_foreign_content(client):
    account_id = await create_account(client)
    await sign_in(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    for path in (
        "/",
        f"/accounts/{account_id}",  # the page with the remove form
        "/tasks",
        "/system",
        "/settings",
        "/audit",
        "/password",
        "/no/such/page",
        "/docs/errors",
        "/docs/dev/index.html",
        "/docs/spec",
    ):
        answer = await client.get(path, headers=HTML)
        assert answer.status_code in (200, 404), path
        assert_page_headers(answer)
    client.cookies.clear()
    assert_page_headers(await client.get("/login", headers=HTML))
    assert_page_headers(await client.get("/static/favicon.svg"))


async def test_authenticated_answers_are_not_stored(client):
    for answer in (
        await client.get("/4/accounts", headers=ADMIN),
        await client.get("/4/accounts?page=0", headers=ADMIN),  # an error, authenticated
        await client.get("/accounts", headers={**ADMIN, **HTML}),
        await client.post("/4/login", headers=ADMIN),  # sets the session cookie
        await client.get("/4/login"),  # the cookie alone
        await client.get("/", headers=HTML),
    ):
        assert answer.headers["cache-control"] == "no-store", answer.request.url


async def test_public_answers_may_be_cached(client):
    await client.post("/4/login", headers=ADMIN)  # a browser sends its cookie everywhere
    for path in ("/version", "/static/css/app.css", "/docs/errors"):
        answer = await client.get(path)
        assert answer.status_code == 200
        assert "no-store" not in answer.headers.get("cache-control", ""), path
