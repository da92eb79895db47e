"""Cross-site requests in a real browser: a page served on another port of the
same host (same-site, so the session cookie rides along) posts a form and calls
fetch against the service, which refuses both by their origin. And a plain HTTP
client, which sends no Origin, changes the password and signs out with the
cookie alone, as the reference shows it.
"""

from __future__ import annotations

import http.cookiejar
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Page, Request, expect

from e2e.conftest import API_VERSION, basic_auth
from e2e.pages import ADMIN_LOGIN, AccountsPage, unique_login


@contextmanager
def other_site(html: str) -> Iterator[str]:
    """An HTTP server on another port of 127.0.0.1 answering `html` at `/`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # The browser keeps its connection open: never wait for it on the way out.
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def account_exists(api: APIRequestContext, login: str) -> bool:
    return api.get("search", params={"q": login}).status == 200


@pytest.fixture
def victim(page: Page, session_cookies: Callable[[], list[Any]]) -> Page:
    """A browser signed in to the service, about to visit another site."""
    page.context.add_cookies(session_cookies())
    return page


def sent_to(page: Page, url: str) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if request.url == url else None)
    return seen


def test_a_form_posted_from_another_port_is_refused(
    victim: Page, base_url: str, api: APIRequestContext
) -> None:
    login = unique_login("forged-form")
    target = f"{base_url}/{API_VERSION}/accounts"
    html = f"""<!doctype html><title>prize</title>
    <form method="post" action="{target}">
      <input name="login" value="{login}"><input name="password" value="secret">
      <input name="account_type" value="admin">
    </form>
    <script>document.forms[0].submit()</script>"""
    requests = sent_to(victim, target)
    with other_site(html) as attacker, victim.expect_response(target) as answer:
        victim.goto(attacker)
    assert answer.value.status == 403
    # The browser did attach the session cookie: only the origin stopped it.
    headers = requests[0].all_headers()
    assert "luna_admin_session=" in headers["cookie"]
    assert headers["origin"] == attacker.rstrip("/")
    assert headers["sec-fetch-site"] == "same-site"
    expect(victim.locator("body")).to_contain_text("29200")
    assert not account_exists(api, login)


def test_fetch_from_another_port_changes_nothing(
    victim: Page, base_url: str, api: APIRequestContext
) -> None:
    login = unique_login("forged-fetch")
    answered: list[tuple[str, int]] = []
    victim.on(
        "response",
        lambda response: (
            answered.append((response.url, response.status))
            if response.url.startswith(base_url)
            else None
        ),
    )
    with other_site("<!doctype html><title>blog</title><p>nothing to see") as attacker:
        victim.goto(attacker)
        statuses = victim.evaluate(
            """async ([base, api, login]) => {
                const form = {"Content-Type": "application/x-www-form-urlencoded"};
                const sent = [];
                for (const [path, body] of [
                    [`${api}/accounts`, `login=${login}&password=secret&account_type=admin`],
                    ["/logout", ""],
                    [`${api}/login`, ""],
                ]) {
                    // no-cors: a "simple" request the browser sends without asking,
                    // with the cookie (the two ports are the same site).
                    await fetch(base + path, {method: "POST", mode: "no-cors",
                        credentials: "include", headers: form, body});
                    sent.push(path);
                }
                // Not simple: the browser asks first (OPTIONS), and is not let through.
                const refused = [];
                for (const method of ["DELETE", "PATCH"]) {
                    try {
                        await fetch(`${base}${api}/login`, {method, credentials: "include",
                            headers: {"Content-Type": "application/json"},
                            body: JSON.stringify({password: "taken-over"})});
                    } catch (error) { refused.push(method); }
                }
                return {sent, refused};
            }""",
            [base_url, f"/{API_VERSION}", login],
        )
    assert statuses["refused"] == ["DELETE", "PATCH"]
    prefix = f"{base_url}/{API_VERSION}"
    posted = [f"{prefix}/accounts", f"{base_url}/logout", f"{prefix}/login"]
    assert [(url, 403) for url in posted] == [item for item in answered if item[0] in posted]
    assert not account_exists(api, login)
    # Still signed in (neither /logout nor DELETE /login ended the session), and the
    # password is the old one.
    accounts = AccountsPage(victim).open()
    expect(accounts.signed_in_as).to_have_text(ADMIN_LOGIN)
    assert api.get("accounts").status == 200


def test_the_services_own_pages_still_post_their_forms(signed_in: Page) -> None:
    accounts = AccountsPage(signed_in)
    login = unique_login("own-form")
    accounts.create(login)
    expect(signed_in.get_by_test_id("flash")).to_contain_text(f"Account {login} created")


def test_a_plain_http_client_uses_the_cookie_alone(base_url: str, api: APIRequestContext) -> None:
    """POST /login with Basic, then PATCH and DELETE /login with nothing but the
    cookie: no token, no Origin, as a client written from the reference does."""
    login = unique_login("cookie-only")
    made = api.post(
        "accounts", data={"login": login, "password": "first-pw", "account_type": "admin"}
    )
    assert made.status == 201
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def call(method: str, path: str, body: Any = None, **headers: str) -> int:
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            f"{base_url}/{API_VERSION}{path}", data=data, method=method, headers=headers
        )
        try:
            with opener.open(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    assert call("POST", "/login", **basic_auth(login, "first-pw")) == 201
    assert [cookie.name for cookie in jar] == ["luna_admin_session"]
    assert call("PATCH", "/login", {"password": "second-pw"}) == 204
    assert call("GET", "/login") == 200  # the re-issued cookie
    assert call("DELETE", "/login") == 204
    assert call("GET", "/login") == 401
    assert call("GET", "/accounts", **basic_auth(login, "second-pw")) == 200
