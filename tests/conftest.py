"""Shared test set-up: a real PostgreSQL database built by the migrations.

TEST_DATABASE_URL names the database (`make test` creates one in the local
cluster). Its schema is dropped and rebuilt from the migrations once per run;
every test then starts from empty tables plus the default admin account.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator

import pytest

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
if not TEST_DATABASE_URL:
    raise pytest.UsageError(
        "set TEST_DATABASE_URL (make test does) to a database the tests may wipe"
    )
# Piccolo's engine reads DATABASE_URL when piccolo_conf is first imported.
os.environ["DATABASE_URL"] = TEST_DATABASE_URL

import httpx  # noqa: E402

from webapp import db  # noqa: E402
from webapp.accounts.passwords import hash_password_sync  # noqa: E402
from webapp.app import create_app  # noqa: E402
from webapp.settings import Settings  # noqa: E402

ADMIN_LOGIN = "root@visionlabs.ai"
ADMIN_PASSWORD = "root"
TEST_SECRET = "test-secret-key"
CALLBACK_SERVER_NETWORK = "127.0.0.1/32"

TABLES = [
    "route_stat",
    "setting",
    "audit_event",
    "schedule_fire",
    "task_schedule",
    "notification_outbox",
    "task_result",
    "subtask_result_part",
    "task_error",
    "subtask",
    "task",
    "worker_process",
    "sample",
    "event",
    "descriptor",
    "face_attribute",
    "list_face",
    "face",
    "list",
    "auth_session",
    "login_throttle",
    "account_stats",
    "account",
]


def basic(login: str = ADMIN_LOGIN, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ADMIN = basic()
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SAME_ORIGIN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
"""What a browser adds to a form post or fetch of the service's own pages."""
PAGE_POST = {**HTML, **SAME_ORIGIN}
"""A browser posting one of the pages' forms."""


def test_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": TEST_DATABASE_URL,
        "secret_key": TEST_SECRET,
        "secret_key_from_env": True,
        "db_pool_size": 5,
        "workers_in_process": 0,
        "gc_batch_size": 50,
        "subtask_size": 200,
        # The recording servers of tests/support listen on 127.0.0.1, a loopback
        # address outbound requests may reach only when allowed (docs/security.md).
        "callback_allowed_networks": CALLBACK_SERVER_NETWORK,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def admin_hash() -> str:
    return hash_password_sync(ADMIN_PASSWORD)


@pytest.fixture(scope="session")
async def schema() -> AsyncIterator[None]:
    conn = await db.engine().get_new_connection()
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    await db.migrate()
    yield


@pytest.fixture(scope="session")
async def app(schema: None):  # type: ignore[no-untyped-def]
    return create_app(test_settings())


@pytest.fixture(scope="session")
async def session_client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    # The app runs in the test's own event loop (Litestar's AsyncTestClient would
    # run it in a thread with another loop, and the pool cannot span loops).
    await db.start_pool(5)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await db.close_pool()


async def reset_database(admin_hash: str) -> None:
    await db.fetch(f"TRUNCATE {', '.join(TABLES)} CASCADE")
    await db.fetch("UPDATE account_total SET account_count = 0")
    await db.fetch(
        "INSERT INTO account (login, password_hash, account_type, description) "
        "VALUES ($1, $2, 'admin', 'default administrator')",
        ADMIN_LOGIN,
        admin_hash,
    )


@pytest.fixture
async def client(
    session_client: httpx.AsyncClient, admin_hash: str, app
) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """A client on an empty database holding only the default admin."""
    await reset_database(admin_hash)
    session_client.cookies.clear()
    app.state.authenticator.cache._entries.clear()
    yield session_client
