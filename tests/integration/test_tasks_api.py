"""Routes 22-37 besides the engine: listing, filters, errors, subtasks, delete,
policies, results and bad input."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN
from tests.integration.tasks_helpers import (
    create_gc,
    make_account,
    make_faces,
    run_until_idle,
    settings,
    task,
)
from webapp import db

GC_V56 = {"target": "face_descriptors", "filters": {"descriptor_version": 56}}


async def task_count() -> int:
    row = await db.fetchrow("SELECT count(*) AS n FROM task")
    assert row is not None
    return int(row["n"])


async def test_create_answers_201_with_location(client):
    response = await client.post("/4/tasks/gc", json={"content": GC_V56}, headers=ADMIN)
    assert response.status_code == 201
    task_id = response.json()["task_id"]
    assert response.headers["location"] == f"/4/tasks/{task_id}"
    body = await task(client, task_id)
    assert set(body) == {
        "task_id",
        "task_type",
        "task_status",
        "content",
        "description",
        "account_id",
        "create_time",
        "end_time",
        "last_update_time",
        "result_id",
        "count_task_parts_done",
        "count_task_parts_all",
        "notification_policy",
        "result_storage_policy",
        "schedule_id",
    }
    assert body["content"] == GC_V56
    assert body["result_storage_policy"] == {"ttl": None}
    assert body["notification_policy"]["enable"] == 1


async def test_list_filters_and_count(client):
    first = await create_gc(client, GC_V56)
    second = await create_gc(client, GC_V56)
    await run_until_idle(settings())
    third = await create_gc(client, GC_V56)
    listed = (await client.get("/4/tasks", headers=ADMIN)).json()["tasks"]
    assert [t["task_id"] for t in listed] == [third, second, first]
    pending = (await client.get("/4/tasks?task_status=0", headers=ADMIN)).json()["tasks"]
    assert [t["task_id"] for t in pending] == [third]
    some = (await client.get(f"/4/tasks?task_ids={first},{third}", headers=ADMIN)).json()
    assert {t["task_id"] for t in some["tasks"]} == {first, third}
    paged = (await client.get("/4/tasks?page=2&page_size=2", headers=ADMIN)).json()["tasks"]
    assert [t["task_id"] for t in paged] == [first]
    ended = await client.get("/4/tasks/count?end_time__gte=2000-01-01T00:00:00Z", headers=ADMIN)
    assert ended.json() == {"count": 2}
    assert (await client.get("/4/tasks/count?task_type=8", headers=ADMIN)).json() == {"count": 0}
    assert (await client.get("/4/tasks/count", headers=ADMIN)).json() == {"count": 3}


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("task_type=10", "task_type"),
        ("task_status=6", "task_status"),
        ("task_ids=1,x", "task_ids"),
        ("task_ids=0", "task_ids"),
        ("schedule_id=0", "schedule_id"),
        ("end_time__lt=tomorrow", "end_time__lt"),
    ],
)
async def test_list_bad_parameters(client, query, name):
    for path in ("/4/tasks", "/4/tasks/count"):
        response = await client.get(f"{path}?{query}", headers=ADMIN)
        assert response.status_code == 400
        assert response.json()["detail"] == f"Bad query parameters '{name}'"


async def test_unknown_and_malformed_task_ids(client):
    for method, suffix in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/result"),
        ("GET", "/errors"),
        ("GET", "/errors/count"),
        ("GET", "/subtasks"),
        ("GET", "/notification_policy"),
    ):
        response = await client.request(method, f"/4/tasks/999999{suffix}", headers=ADMIN)
        assert response.status_code == 404, (method, suffix)
        assert response.json()["error_code"] == 28001
        bad = await client.request(method, f"/4/tasks/abc{suffix}", headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["error_code"] == 12012


async def test_result_of_an_unfinished_task(client):
    task_id = await create_gc(client, GC_V56)
    response = await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error_code"] == 28020


async def test_expired_result_is_gone(client):
    task_id = await create_gc(client, GC_V56, result_storage_policy={"ttl": 1})
    await run_until_idle(settings())
    expiry = await db.fetchrow("SELECT expire_time - create_time AS ttl FROM task_result")
    assert expiry is not None and expiry["ttl"].days == 1
    await db.fetch("UPDATE task_result SET expire_time = now() - interval '1 second'")
    response = await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)
    assert response.status_code == 404 and response.json()["error_code"] == 28017
    from webapp.tasks.service import delete_expired_results

    assert await delete_expired_results() == 1


async def test_result_download_is_an_attachment(client):
    task_id = await create_gc(client, GC_V56)
    await run_until_idle(settings())
    response = await client.get(f"/4/tasks/{task_id}/result?download=1", headers=ADMIN)
    assert "attachment" in response.headers["content-disposition"]
    assert response.json()["removed_count"] == 0


async def test_delete_removes_subtasks_errors_and_result(client):
    task_id = await create_gc(client, GC_V56)
    await run_until_idle(settings())
    await db.fetch(
        "INSERT INTO task_error (task_id, error_code, description, detail) "
        "VALUES ($1, 1, 'x', 'y')",
        task_id,
    )
    response = await client.delete(f"/4/tasks/{task_id}", headers=ADMIN)
    assert response.status_code == 204
    for table in ("task", "subtask", "task_error", "task_result"):
        row = await db.fetchrow(f"SELECT count(*) AS n FROM {table}")
        assert row is not None and row["n"] == 0, table


async def test_deleting_a_running_task_cancels_it_first(client):
    task_id = await create_gc(client, GC_V56)
    await db.fetch("UPDATE task SET task_status = 1 WHERE task_id = $1", task_id)
    assert (await client.delete(f"/4/tasks/{task_id}", headers=ADMIN)).status_code == 204
    notices = await db.fetchrow("SELECT count(*) AS n FROM notification_outbox")
    assert notices is not None  # no callbacks configured: nothing queued
    assert (await client.get(f"/4/tasks/{task_id}", headers=ADMIN)).status_code == 404


async def test_subtasks_route(client):
    account = await make_account()
    await make_faces(account, 250, versions=(56,))
    task_id = await create_gc(client, GC_V56)
    await run_until_idle(settings())
    subtasks = (await client.get(f"/4/tasks/{task_id}/subtasks", headers=ADMIN)).json()["subtasks"]
    assert len(subtasks) == 2
    for item in subtasks:
        assert set(item) == {
            "subtask_id",
            "task_id",
            "result_id",
            "create_time",
            "end_time",
            "subtask_status",
            "content",
        }
        assert item["subtask_status"] == 5 and item["task_id"] == task_id
    assert sum(item["content"]["progress"]["handled"] for item in subtasks) == 250


async def test_global_errors_routes(client):
    first = await create_gc(client, GC_V56)
    second = await create_gc(client, GC_V56)
    rows = await db.fetch(
        "INSERT INTO task_error (task_id, error_code, description, detail) VALUES "
        "($1, 29101, 'Sample not found', 'a'), ($2, 29102, 'Extraction failed', 'b') "
        "RETURNING error_id",
        first,
        second,
    )
    everything = (await client.get("/4/errors", headers=ADMIN)).json()["errors"]
    assert {e["error_id"] for e in everything} == {r["error_id"] for r in rows}
    assert set(everything[0]) == {
        "error_id",
        "task_id",
        "subtask_id",
        "error_code",
        "description",
        "detail",
        "error_time",
        "additional_info",
    }
    only = (await client.get(f"/4/errors?task_ids={second}", headers=ADMIN)).json()["errors"]
    assert [e["task_id"] for e in only] == [second]
    coded = await client.get("/4/errors/count?error_code=29101", headers=ADMIN)
    assert coded.json() == {"count": 1}
    one = (await client.get(f"/4/errors/{rows[0]['error_id']}", headers=ADMIN)).json()
    assert one["detail"] == "a"
    missing = await client.get("/4/errors/999999", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error_code"] == 28003
    assert (await client.get("/4/errors?error_ids=x", headers=ADMIN)).status_code == 400


async def test_search_finds_a_task(client):
    task_id = await create_gc(client, GC_V56)
    found = (await client.get(f"/4/search?q={task_id}", headers=ADMIN)).json()
    assert found["type"] == "task" and found["data"]["task_id"] == task_id


BAD_GC_BODIES = [
    ({"content": {"target": "everything"}}, "content.target"),
    ({"content": {"target": "face_descriptors"}}, "content.filters"),
    (
        {"content": {"target": "face_descriptors", "filters": {}}},
        "content.filters.descriptor_version",
    ),
    (
        {"content": {"target": "face_descriptors", "filters": {"descriptor_version": "56"}}},
        "content.filters.descriptor_version",
    ),
    (
        {"content": {"target": "faces", "filters": {"account_id": "nope"}}},
        "content.filters.account_id",
    ),
    (
        {"content": {"target": "faces", "filters": {"create_time__lt": "2026-01-01"}}},
        "content.filters.create_time__lt",
    ),
    ({"content": {"target": "faces", "filters": {"descriptor_version": 56}}}, "content.filters"),
    (
        {"content": {"target": "events", "filters": {}, "store_results": "yes"}},
        "content.store_results",
    ),
    ({"content": GC_V56, "result_storage_policy": {"ttl": 8}}, "result_storage_policy.ttl"),
    ({"content": GC_V56, "description": "d" * 129}, "description"),
    ({"content": GC_V56, "task_type": 4}, ""),
    (
        {
            "content": GC_V56,
            "notification_policy": {
                "task_callbacks": [{"type": "http", "url": "ftp://example.com/hook"}]
            },
        },
        "notification_policy.task_callbacks.0.url",
    ),
    ({}, None),
]


@pytest.mark.parametrize(("body", "path"), BAD_GC_BODIES)
async def test_bad_gc_bodies_create_nothing(client, body, path):
    response = await client.post("/4/tasks/gc", json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
    error = response.json()
    if path is None:
        assert error["error_code"] == 12005
    else:
        assert error["error_code"] == 12022
        assert f"Path: '{path}'" in error["detail"], error["detail"]
    assert await task_count() == 0


async def test_additional_extract_body_errors(client):
    cases = [
        {"content": {"filters": {"objects_type": "faces"}, "extraction_target": "iris"}},
        {
            "content": {
                "filters": {"objects_type": "events"},
                "extraction_target": "face_descriptor",
            }
        },
        {
            "content": {
                "filters": {"objects_type": "faces", "face_id__lt": 5},
                "extraction_target": "face_descriptor",
            }
        },
        {
            "content": {
                "filters": {"objects_type": "faces"},
                "extraction_target": "face_descriptor",
                "options": {"missing": "no"},
            }
        },
    ]
    for body in cases:
        response = await client.post("/4/tasks/additional_extract", json=body, headers=ADMIN)
        assert response.status_code == 400 and response.json()["error_code"] == 12022, body
    assert await task_count() == 0


async def test_notification_policy_is_masked_and_replaced(client):
    policy = {
        "enable": 1,
        "task_callbacks": [
            {
                "type": "http",
                "url": "http://127.0.0.1:9/hook",
                "authorization": {"type": "basic", "login": "hook", "password": "s3cret"},
            },
            {"type": "telegram", "token": "123:abc", "chat_id": 42},
        ],
        "subtask_callbacks": [],
    }
    task_id = await create_gc(client, GC_V56, notification_policy=policy)
    shown = (await client.get(f"/4/tasks/{task_id}/notification_policy", headers=ADMIN)).json()
    assert shown["task_callbacks"][0]["authorization"]["password"] == "********"
    assert shown["task_callbacks"][1]["token"] == "********"
    assert "s3cret" not in (await client.get(f"/4/tasks/{task_id}", headers=ADMIN)).text
    shown["enable"] = 0
    replaced = await client.put(
        f"/4/tasks/{task_id}/notification_policy", json=shown, headers=ADMIN
    )
    assert replaced.status_code == 204
    stored = await db.fetchrow("SELECT notification_policy FROM task WHERE task_id = $1", task_id)
    assert stored is not None and '"s3cret"' in stored["notification_policy"]
    assert '"enable": 0' in stored["notification_policy"]
    bad = await client.put(
        f"/4/tasks/{task_id}/notification_policy",
        json={"task_callbacks": [{"type": "http", "url": "not a url"}]},
        headers=ADMIN,
    )
    assert bad.status_code == 400 and "task_callbacks.0.url" in bad.json()["detail"]
