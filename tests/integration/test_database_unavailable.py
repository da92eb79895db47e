"""A database that cannot be reached is 503 29201 with Retry-After, not 500 11009.

The pool is pointed at a port where nothing listens (a real refused
connection, from asyncpg itself), then put back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.conftest import ADMIN, HTML
from tests.support.processes import free_port
from webapp import db


@pytest.fixture
async def unreachable(client) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    engine = db.engine()
    real = engine.pool
    dead = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", min_size=0, max_size=1
    )
    engine.pool = dead
    try:
        yield
    finally:
        engine.pool = real
        await dead.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/4/accounts", None),
        ("POST", "/4/accounts", {"login": "new@example.com", "password": "secret"}),
        ("GET", "/4/tasks", None),
        ("POST", "/4/login", None),
        ("GET", "/4/luna_sys_info", None),
    ],
)
async def test_the_answer_is_503_with_its_own_code(client, unreachable, method, path, body):
    response = await client.request(method, path, json=body, headers=ADMIN)
    assert response.status_code == 503, response.text
    assert response.json() == {
        "error_code": 29201,
        "desc": "Service unavailable",
        "detail": "The database cannot be reached, try again later",
        "link": "/docs/errors#error-29201",
    }
    assert response.headers["retry-after"] == "5"


async def test_a_browser_gets_the_error_page(client, unreachable):
    response = await client.get("/4/accounts", headers={**ADMIN, **HTML})
    assert response.status_code == 503
    assert "<html" in response.text and "29201" in response.text


async def test_the_service_answers_again_once_the_database_is_back(client):
    assert (await client.get("/4/accounts", headers=ADMIN)).status_code == 200


def test_only_failures_to_reach_the_database_are_503():
    assert db.is_unreachable(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert db.is_unreachable(asyncpg.exceptions.TooManyConnectionsError("full"))
    # A bug or a bad query stays an internal error; so does an OSError of our own.
    assert not db.is_unreachable(asyncpg.exceptions.UndefinedTableError("no table"))
    assert not db.is_unreachable(ValueError("bug"))
    assert not db.is_unreachable(FileNotFoundError("a template"))
