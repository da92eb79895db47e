"""Browser tests against a real `luna-admin serve` in a subprocess.

The server gets its own database: the name of TEST_DATABASE_URL (or DATABASE_URL)
with `_e2e` appended, created when missing and wiped once per run, so these
tests never touch the data of the other suites. The server applies the
migrations and creates the default admin itself, exactly as in production.

The browser is Debian's Chromium (`/usr/bin/chromium`, or $CHROMIUM); never
`playwright install`. Run this suite in its own pytest run: pytest-playwright
leaves an event loop running that breaks pytest-asyncio tests run after it.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.sync_api import (
    APIRequestContext,
    BrowserContext,
    Page,
    Playwright,
    expect,
)

from e2e.pages import ADMIN_LOGIN, ADMIN_PASSWORD, AccountsPage
from tests.support.databases import fresh_database, sibling_database

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SECRET_KEY = "e2e-secret-key"
API_VERSION = "4"
TIMEOUT_MS = 5_000
SERVER_START_TIMEOUT = 60.0

expect.set_options(timeout=TIMEOUT_MS)


def e2e_database_urls() -> tuple[str, str, str]:
    """(URL of the e2e database, its name, URL of the `postgres` maintenance database)."""
    source = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not source:
        raise pytest.UsageError(
            "set TEST_DATABASE_URL (make test does); the e2e tests use <its database>_e2e"
        )
    return sibling_database(source, "_e2e")


def prepare_database(url: str, name: str, maintenance_url: str) -> None:
    # In a thread of its own: Playwright's event loop may already run on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fresh_database(url, name, maintenance_url)).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def luna_admin_command() -> list[str]:
    script = Path(sys.executable).with_name("luna-admin")
    return [str(script)] if script.exists() else [sys.executable, "-m", "webapp.cli"]


class Server:
    """`luna-admin serve` on a free port over a fresh database."""

    def __init__(self, output: Path) -> None:
        url, name, maintenance_url = e2e_database_urls()
        prepare_database(url, name, maintenance_url)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        output.mkdir(parents=True, exist_ok=True)
        self.log = output / "e2e-server.log"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "API_VERSION": API_VERSION,
            "LOG_LEVEL": "warning",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            # Tasks run in the server (one in-process worker, the default), in small
            # batches and several subtasks, so a task page has progress to show.
            "WORKERS_IN_PROCESS": "1",
            "GC_BATCH_SIZE": "50",
            "SUBTASK_SIZE": "1000",
            # Callbacks of the tests point at 127.0.0.1 (nothing leaves the machine), which
            # outbound requests may reach only when allowed (docs/security.md).
            "CALLBACK_ALLOWED_NETWORKS": "127.0.0.1/32",
        }
        with self.log.open("wb") as log_file:
            self.process = subprocess.Popen(
                [*luna_admin_command(), "serve", "--port", str(port)],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self.up = False

    def wait_until_up(self) -> str:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not self.up:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"luna-admin exited with {self.process.returncode}:\n{self.log.read_text()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"luna-admin did not answer in time:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/version", timeout=2) as answer:
                    self.up = answer.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)  # polling a starting process, not waiting in a test
        return self.url

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session", autouse=True)
def live_server(pytestconfig: pytest.Config, delete_output_dir: None) -> Iterator[Server]:
    """Started first (autouse), so that it boots while the browser launches.

    Requests `delete_output_dir` so that the server log, kept in the output folder,
    survives pytest-playwright's clean-up at the start of the run.
    """
    server = Server(Path(pytestconfig.getoption("--output")).absolute())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def base_url(live_server: Server) -> str:
    return live_server.wait_until_up()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def new_context(
    new_context: Callable[..., BrowserContext],
) -> Iterator[Callable[..., BrowserContext]]:
    """pytest-playwright's contexts, with a short timeout and a watch for script errors."""
    errors: list[str] = []

    def make(**kwargs: Any) -> BrowserContext:
        context = new_context(**kwargs)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("weberror", lambda error: errors.append(str(error.error)))
        return context

    yield make
    if errors:
        pytest.fail("uncaught script errors in the pages:\n" + "\n".join(errors))


def basic_auth(login: str = ADMIN_LOGIN, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="session")
def api(playwright: Playwright, base_url: str) -> Iterator[APIRequestContext]:
    """The JSON API as the default admin, to set up data quickly: `api.post("accounts", ...)`."""
    context = playwright.request.new_context(
        base_url=f"{base_url}/{API_VERSION}/",
        extra_http_headers={**basic_auth(), "Accept": "application/json"},
    )
    yield context
    context.dispose()


@pytest.fixture
def session_cookies(playwright: Playwright, base_url: str) -> Callable[[], list[Any]]:
    """Makes a new session of the default admin; returns its cookies for a browser context.

    The session comes from the API's sign-in (POST /{api}/login with Basic
    credentials), so tests that are not about signing in skip the form and its
    page loads. Each call is a session of its own: signing out ends only that one.
    """

    def make() -> list[Any]:
        client = playwright.request.new_context(base_url=base_url)
        try:
            answer = client.post(f"/{API_VERSION}/login", headers=basic_auth())
            assert answer.status == 201, answer.text()
            return list(client.storage_state()["cookies"])
        finally:
            client.dispose()

    return make


@pytest.fixture
def signed_in(page: Page, session_cookies: Callable[[], list[Any]]) -> Page:
    """A page signed in as the default admin, open on the accounts page."""
    page.context.add_cookies(session_cookies())
    AccountsPage(page).open()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(ADMIN_LOGIN)
    return page


class Database:
    """SQL on the server's database, for data the API cannot make (faces, descriptors).

    Each call runs in a thread of its own with its own event loop: Playwright's
    loop already runs on the test's thread.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, work: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        async def connected() -> Any:
            conn = await asyncpg.connect(self.url)
            try:
                return await work(conn)
            finally:
                await conn.close()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, connected()).result()

    def value(self, query: str, *args: Any) -> Any:
        return self._run(lambda conn: conn.fetchval(query, *args))

    def execute(self, query: str, *args: Any) -> None:
        self._run(lambda conn: conn.execute(query, *args))

    @contextmanager
    def locked(self, table: str) -> Iterator[None]:
        """Hold `table` in SHARE mode: it can be read, but a task's deletes wait.

        A task then stays visibly running for as long as the test needs, and
        finishes by itself once the block ends: no guessing how long a task takes.
        """
        ready, release = threading.Event(), threading.Event()
        failures: list[BaseException] = []

        async def hold() -> None:
            conn = await asyncpg.connect(self.url)
            try:
                async with conn.transaction():
                    await conn.execute(f"LOCK TABLE {table} IN SHARE MODE")
                    ready.set()
                    await asyncio.get_running_loop().run_in_executor(None, release.wait)
            finally:
                await conn.close()

        def run() -> None:
            try:
                asyncio.run(hold())
            except BaseException as exc:  # reported to the test below
                failures.append(exc)
                ready.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ready.wait(10)
        try:
            if failures:
                raise failures[0]
            yield
        finally:
            release.set()
            thread.join(10)


@pytest.fixture(scope="session")
def database(live_server: Server) -> Database:
    return Database(e2e_database_urls()[0])
