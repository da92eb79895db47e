"""Small helpers shared by the integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.conftest import ADMIN, basic, test_settings
from webapp import db
from webapp.app import create_app


async def create_account(
    client: httpx.AsyncClient,
    login: str | None = None,
    password: str = "secret",
    account_type: str = "advanced_user",
    **extra: Any,
) -> str:
    login = login or f"user{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/4/accounts",
        json={"login": login, "password": password, "account_type": account_type, **extra},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["account_id"])


async def account_count() -> int:
    row = await db.fetchrow("SELECT count(*) AS n FROM account WHERE remove_time IS NULL")
    assert row is not None
    return int(row["n"])


async def sign_in(client: httpx.AsyncClient, login: str, password: str) -> None:
    """POST /4/login with Basic credentials: the client keeps the session cookie."""
    response = await client.post("/4/login", headers=basic(login, password))
    assert response.status_code == 201, response.text


async def add_platform_data(
    account_id: str, lists: int = 2, faces: int = 5, attributes: int = 3, linked: int = 4
) -> list[str]:
    """Lists, faces (the first `linked` in every list) and attributes; return list ids."""
    uid = uuid.UUID(account_id)
    list_rows = await db.fetch(
        "INSERT INTO list (account_id, user_data) SELECT $1, 'list ' || g "
        "FROM generate_series(1, $2) g RETURNING list_id",
        uid,
        lists,
    )
    face_rows = await db.fetch(
        "INSERT INTO face (account_id) SELECT $1 FROM generate_series(1, $2) RETURNING face_id",
        uid,
        faces,
    )
    face_ids = [row["face_id"] for row in face_rows]
    for row in list_rows:
        await db.fetch(
            "INSERT INTO list_face (list_id, face_id) SELECT $1, unnest($2::uuid[])",
            row["list_id"],
            face_ids[:linked],
        )
    await db.fetch(
        "INSERT INTO face_attribute (account_id, face_id, basic_attributes) "
        "SELECT $1, unnest($2::uuid[]), '{\"age\": 30}'::jsonb",
        uid,
        face_ids[:attributes],
    )
    await db.fetch(
        "INSERT INTO descriptor (face_id, descriptor_version, vector) "
        "SELECT unnest($1::uuid[]), 56, '\\x00'::bytea",
        face_ids,
    )
    return [str(row["list_id"]) for row in list_rows]


@asynccontextmanager
async def client_at(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the test app whose connection comes from `address` (the TCP peer
    the app sees), with its own cookies."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@asynccontextmanager
async def app_client(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built with other settings (same database and pool)."""
    async with client_at(create_app(test_settings(**overrides)), "127.0.0.1") as client:
        yield client


def run_luna_admin(
    database_url: str, *args: str, input_text: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`luna-admin <args>` on `database_url`, to its end; `env` adds to (an empty value
    removes from) this process's environment."""
    values = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning", **env}
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args],
        env={name: value for name, value in values.items() if value != ""},
        capture_output=True,
        text=True,
        timeout=120,
        input=input_text,
    )
