"""The pages work under their Content-Security-Policy, and cannot be framed.

The CSP allows only the service's own origin, no inline script or style
(docs/security.md, "Response headers"). Chromium reports every violation as a
`securitypolicyviolation` event and a console error; the main pages, their
htmx swaps and their forms must raise none. A page of another origin that
frames the account page (with its remove form) gets nothing shown.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, BrowserContext, Page, expect

from e2e.pages import AccountPage, AccountsPage, LoginPage, TasksPage, unique_login

WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


class Watched:
    """A page whose CSP violations (events and console reports) are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on(
            "console",
            lambda message: (
                self.console.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )

    def violations(self) -> list[str]:
        events = self.page.evaluate("window.__cspViolations || []")
        return [*events, *self.console]


def create_account(api: APIRequestContext) -> tuple[str, str]:
    login = unique_login("csp")
    answer = api.post(
        "accounts", data={"login": login, "password": "secret-e2e", "account_type": "user"}
    )
    assert answer.status == 201, answer.text()
    return login, str(answer.json()["account_id"])


def test_the_main_pages_raise_no_csp_violation(
    new_context: Callable[..., BrowserContext], api: APIRequestContext
) -> None:
    login, account_id = create_account(api)
    watched = Watched(new_context().new_page())
    page = watched.page
    LoginPage(page).open()
    assert watched.violations() == []
    LoginPage(page).sign_in()
    accounts = AccountsPage(page)
    expect(accounts.table).to_be_visible()
    # An htmx swap (the filters) and an htmx form with its inline errors.
    with page.expect_response(lambda answer: "/accounts" in answer.url):
        page.get_by_test_id("filters").get_by_role("button", name="Apply").click()
    expect(accounts.row(login)).to_be_visible()
    accounts.create("not-an-email")
    expect(accounts.login_error).not_to_be_empty()
    checked = ["/login", "/accounts"]
    for path in (
        f"/accounts/{account_id}",
        f"/accounts/{account_id}/lists",
        "/lists",
        "/tasks",
        "/tasks/schedules",
        "/tasks/schedules/new?task_type=4",
        "/audit",
        "/system",
        "/settings",
        "/password",
        "/version",
        "/docs/errors",
        "/docs/dev/index.html",
        "/docs/spec",
        "/no/such/page",
    ):
        page.goto(path)
        page.wait_for_load_state("load")
        checked.append(path)
        assert watched.violations() == [], f"CSP violations on {path}"
    tasks = TasksPage(page).open()
    expect(tasks.page.locator("form").first).to_be_visible()
    assert watched.violations() == [], f"CSP violations on {checked}"


@pytest.fixture
def other_origin() -> Iterator[Callable[[str], str]]:
    """A server on another port of the same host: another origin, as an attacker's."""
    pages: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(html: str) -> str:
        pages["/attack.html"] = html.encode()
        return f"http://127.0.0.1:{server.server_address[1]}/attack.html"

    yield serve
    server.shutdown()
    server.server_close()


def test_another_site_cannot_frame_the_account_page(
    signed_in: Page, api: APIRequestContext, base_url: str, other_origin: Callable[[str], str]
) -> None:
    login, account_id = create_account(api)
    target = f"{base_url}/accounts/{account_id}"
    # The page itself shows, with its remove form, to the signed-in operator.
    AccountPage(signed_in).open(account_id)
    expect(signed_in.get_by_test_id("delete-form")).to_be_visible()
    attack = other_origin(f'<h1>win a prize</h1><iframe src="{target}" id="framed"></iframe>')
    blocked: list[str] = []
    signed_in.on("console", lambda message: blocked.append(message.text))
    signed_in.goto(attack)
    expect(signed_in.get_by_role("heading", name="win a prize")).to_be_visible()
    frame = signed_in.frame_locator("#framed")
    expect(frame.get_by_test_id("delete-form")).to_have_count(0)
    expect(frame.get_by_test_id("account-login")).to_have_count(0)
    assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in blocked), blocked
    # The account is untouched, of course.
    assert api.get(f"accounts/{account_id}").status == 200
    assert login
