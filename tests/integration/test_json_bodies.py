"""A JSON route given a body that is not JSON answers 400 12002 "Request does not
contain json" and changes nothing (ROUTES.md "Errors"): another Content-Type
(text/plain, XML, none of ours), or a body that does not parse. Every route of
the OpenAPI document that takes a body is tried, not a chosen few."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from webapp import db
from webapp.docs.openapi import document

NOT_JSON: list[tuple[str | None, bytes]] = [
    ("text/plain", b'{"password": "password"}'),  # JSON, but not said to be
    ("text/plain; charset=utf-8", b"password=password"),
    ("application/xml", b"<password>password</password>"),
    ("text/csv", b"a,b\n1,2"),
    ("application/octet-stream", b"\x00\x01"),
    ("application/json", b"{not json"),
    ("application/json", b'{"password": "password"'),
    ("application/json", b"\xff\xfe\x00"),
    ("application/json", b""),
    (None, b"password"),  # no Content-Type and no JSON either
]

TABLES = ("account", "task", "task_schedule", "setting", "auth_session", "audit_event")


async def _snapshot() -> dict[str, int]:
    counts = {}
    for table in TABLES:
        row = await db.fetchrow(f"SELECT count(*) AS n FROM {table}")
        assert row is not None
        counts[table] = int(row["n"])
    return counts


async def _path_values(client: httpx.AsyncClient) -> dict[str, str]:
    task = await client.post(
        "/4/tasks/gc", json={"content": {"target": "face_attributes"}}, headers=ADMIN
    )
    schedule = await client.post(
        "/4/tasks/schedules",
        json={
            "task": {"task_type": 4, "content": {"target": "face_attributes"}},
            "trigger": {"cron": "5 4 * * *"},
        },
        headers=ADMIN,
    )
    return {
        "task_id": str(task.json()["task_id"]),
        "schedule_id": str(schedule.json()["schedule_id"]),
        "account_id": str(uuid.uuid4()),
        "name": "LICENSE_ISO",
    }


def _body_operations(app: Any) -> list[tuple[str, str]]:
    spec = document(app)
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]


async def test_every_route_with_a_body_refuses_what_is_not_json(client, app):
    operations = _body_operations(app)
    assert len(operations) >= 10  # the API's and the pages' mounts alike
    values = await _path_values(client)
    before = await _snapshot()
    for method, template in operations:
        path = template.format(**values)
        for content_type, body in NOT_JSON:
            headers = dict(ADMIN)
            if content_type is not None:
                headers["Content-Type"] = content_type
            response = await client.request(method, path, content=body, headers=headers)
            assert response.status_code == 400, (method, path, content_type, response.text)
            assert response.json()["error_code"] == 12002, (method, path, content_type)
            assert response.json()["detail"] == "Request does not contain json"
    assert await _snapshot() == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "app/x+json"],
)
async def test_json_by_any_of_its_names_is_read(client, content_type):
    response = await client.post(
        "/4/accounts",
        content=b'{"login": "named@example.com", "password": "secret"}',
        headers={**ADMIN, "Content-Type": content_type.replace("app/x", "application/vnd.x")},
    )
    assert response.status_code == 201, response.text
