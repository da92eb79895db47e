"""Removing an account: gone from every route at the 204, its rows deleted in the
background by a task, its login free at once and its id once the rows are gone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.conftest import ADMIN, ADMIN_LOGIN, HTML, basic
from tests.integration.helpers import add_platform_data, create_account, sign_in
from tests.integration.tasks_helpers import create_gc, failing, run_until_idle, settings, task
from webapp import db
from webapp.tasks import service as tasks_service
from webapp.tasks.worker import Worker

OWNED_TABLES = ("sample", "event", "face_attribute", "face", "list", "auth_session")


async def owned_rows(account_id: str) -> dict[str, int]:
    """Rows of each table that belong to the account, straight from the database."""
    uid = uuid.UUID(account_id)
    counts = {}
    for table in OWNED_TABLES:
        row = await db.fetchrow(f"SELECT count(*) AS n FROM {table} WHERE account_id = $1", uid)
        assert row is not None
        counts[table] = int(row["n"])
    row = await db.fetchrow(
        "SELECT count(*) AS n FROM descriptor d JOIN face f ON f.face_id = d.face_id "
        "WHERE f.account_id = $1",
        uid,
    )
    assert row is not None
    counts["descriptor"] = int(row["n"])
    return counts


async def add_events_and_samples(account_id: str, events: int = 4) -> None:
    """Events (half of them of a face) and samples of faces and of events."""
    uid = uuid.UUID(account_id)
    await db.fetch(
        "INSERT INTO event (account_id, face_id) SELECT $1, "
        "CASE WHEN g % 2 = 0 THEN (SELECT face_id FROM face WHERE account_id = $1 LIMIT 1) END "
        "FROM generate_series(1, $2) g",
        uid,
        events,
    )
    await db.fetch(
        "INSERT INTO sample (account_id, face_id, image) "
        "SELECT $1, face_id, '\\x89'::bytea FROM face WHERE account_id = $1",
        uid,
    )
    await db.fetch(
        "INSERT INTO sample (account_id, event_id, image) "
        "SELECT $1, event_id, '\\x89'::bytea FROM event WHERE account_id = $1",
        uid,
    )


async def removal_task(client: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    tasks = (await client.get("/4/tasks?task_type=4", headers=ADMIN)).json()["tasks"]
    found = [t for t in tasks if t["content"].get("target") == "account"]
    found = [t for t in found if t["content"]["filters"]["account_id"] == account_id]
    assert len(found) == 1, tasks
    return found[0]


async def sys_info(client: httpx.AsyncClient) -> tuple[dict[int, int], int]:
    body = (await client.get("/4/luna_sys_info", headers=ADMIN)).json()
    versions = {d["descriptor_version"]: d["descriptor_count"] for d in body["descriptor_info"]}
    return versions, body["current_faces_attributes_count"]


async def test_the_removed_account_is_gone_from_every_route_at_once(client):
    kept = await create_account(client, "kept@example.com")
    await add_platform_data(kept, lists=1, faces=3, attributes=2)
    before = await sys_info(client)
    all_lists_before = (await client.get("/4/lists", headers=ADMIN)).json()["list_count"]

    doomed = await create_account(client, "doomed@example.com", "secret", account_type="admin")
    doomed_lists = await add_platform_data(doomed, lists=2, faces=6, attributes=4)
    await add_events_and_samples(doomed)
    await sign_in(client, "doomed@example.com", "secret")
    doomed_cookie = client.cookies["luna_admin_session"]
    client.cookies.clear()
    assert (await client.get("/4/accounts", headers=ADMIN)).json()["account_count"] == 3

    response = await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    assert response.status_code == 204
    # Nothing ran in the background yet: the rows are all still there ...
    assert (await owned_rows(doomed))["face"] == 6
    # ... and none of them shows anywhere.
    assert (await client.get(f"/4/accounts/{doomed}", headers=ADMIN)).status_code == 404
    accounts = (await client.get("/4/accounts", headers=ADMIN)).json()
    assert accounts["account_count"] == 2
    assert doomed not in {a["account_id"] for a in accounts["accounts"]}
    in_range = (
        await client.get("/4/accounts?create_time__gte=2000-01-01T00:00:00Z", headers=ADMIN)
    ).json()
    assert in_range["account_count"] == 2
    assert (
        "doomed@example.com" not in (await client.get("/accounts", headers={**ADMIN, **HTML})).text
    )
    assert (await client.get(f"/accounts/{doomed}", headers={**ADMIN, **HTML})).status_code == 404
    lists = (await client.get(f"/4/lists?account_id={doomed}", headers=ADMIN)).json()
    assert lists == {"lists": [], "list_count": 0}
    assert (await client.get("/4/lists", headers=ADMIN)).json()["list_count"] == all_lists_before
    assert (await client.get(f"/4/lists/{doomed_lists[0]}", headers=ADMIN)).status_code == 404
    for q in (doomed, "doomed@example.com", doomed_lists[1]):
        assert (await client.get(f"/4/search?q={q}", headers=ADMIN)).status_code == 404
    assert await sys_info(client) == before
    # Its sessions and credentials are dead.
    client.cookies.set("luna_admin_session", doomed_cookie)
    assert (await client.get("/4/login")).status_code == 401
    client.cookies.clear()
    basic_answer = await client.get("/4/accounts", headers=basic("doomed@example.com", "secret"))
    assert basic_answer.status_code == 401
    assert (await owned_rows(doomed))["auth_session"] == 0
    # A second removal finds nothing to remove.
    again = await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    assert again.status_code == 404 and again.json()["error_code"] == 15012


async def test_the_login_is_free_at_once_and_the_id_once_the_rows_are_gone(client):
    doomed = await create_account(client, "reuse@example.com", "old-secret")
    await add_platform_data(doomed, lists=1, faces=4)
    assert (await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)).status_code == 204

    # The login: a new account at once, which signs in with its own password.
    newcomer = await create_account(client, "reuse@example.com", "new-secret", "admin")
    assert newcomer != doomed
    assert (await client.get(f"/4/accounts/{newcomer}", headers=ADMIN)).json()["stats"] == {
        "list_count": 0,
        "face_count": 0,
        "face_attribute_count": 0,
    }
    signed = await client.get("/4/accounts", headers=basic("reuse@example.com", "new-secret"))
    assert signed.status_code == 200
    stale = await client.get("/4/accounts", headers=basic("reuse@example.com", "old-secret"))
    assert stale.status_code == 401
    # The id: refused while its rows are being removed, free afterwards.
    body = {"login": "same-id@example.com", "password": "secret"}
    refused = await client.put(f"/4/accounts/{doomed}", json=body, headers=ADMIN)
    assert refused.status_code == 409
    assert refused.json()["error_code"] == 29300 and doomed in refused.json()["detail"]
    await run_until_idle(settings())
    created = await client.put(f"/4/accounts/{doomed}", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    stats = (await client.get(f"/4/accounts/{doomed}", headers=ADMIN)).json()["stats"]
    assert stats == {"list_count": 0, "face_count": 0, "face_attribute_count": 0}


async def test_the_workers_remove_every_row_and_the_counters_stay_right(client):
    kept = await create_account(client, "neighbour@example.com")
    (kept_list,) = await add_platform_data(kept, lists=1, faces=3, linked=3)
    doomed = await create_account(client, "big@example.com")
    await add_platform_data(doomed, lists=3, faces=120, attributes=80, linked=50)
    await add_events_and_samples(doomed, events=30)
    # One of its faces is in the neighbour's list: that list's count follows.
    await db.fetch(
        "INSERT INTO list_face (list_id, face_id) "
        "SELECT $1, face_id FROM face WHERE account_id = $2 LIMIT 1",
        uuid.UUID(kept_list),
        uuid.UUID(doomed),
    )
    assert (await client.get(f"/4/lists/{kept_list}", headers=ADMIN)).json()["face_count"] == 4
    rows_before = await owned_rows(doomed)

    assert (await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)).status_code == 204
    removal = await removal_task(client, doomed)
    assert removal["task_status"] == 0 and removal["count_task_parts_all"] >= 5
    assert removal["description"] == "remove account big@example.com"
    ran = await run_until_idle(settings(gc_batch_size=7, subtask_size=50))
    assert ran >= 5

    assert await owned_rows(doomed) == dict.fromkeys(rows_before, 0)
    assert (
        await db.fetchrow("SELECT 1 FROM account WHERE account_id = $1", uuid.UUID(doomed)) is None
    )
    assert (
        await db.fetchrow("SELECT 1 FROM account_stats WHERE account_id = $1", uuid.UUID(doomed))
        is None
    )
    done = await task(client, removal["task_id"])
    assert done["task_status"] == 5
    result = (await client.get(f"/4/tasks/{removal['task_id']}/result", headers=ADMIN)).json()
    assert result["account_removed"] is True
    for table in ("sample", "event", "face_attribute", "face", "list"):
        assert result[f"removed_{table}s"] == rows_before[table], table
    assert result["removed_count"] == sum(
        rows_before[t] for t in ("sample", "event", "face_attribute", "face", "list")
    )
    # The counters: the account total, the neighbour's list, every stored counter.
    assert (await client.get("/4/accounts", headers=ADMIN)).json()["account_count"] == 2
    assert (await client.get(f"/4/lists/{kept_list}", headers=ADMIN)).json()["face_count"] == 3
    counters = await db.fetch(
        "SELECT (SELECT account_count FROM account_total) AS total, "
        "(SELECT count(*) FROM account WHERE remove_time IS NULL) AS live"
    )
    assert counters[0]["total"] == counters[0]["live"] == 2
    stats = (await client.get(f"/4/accounts/{kept}", headers=ADMIN)).json()["stats"]
    assert stats == {"list_count": 1, "face_count": 3, "face_attribute_count": 3}


async def test_the_audit_log_records_the_start_and_the_end(client):
    doomed = await create_account(client, "audited@example.com")
    await add_platform_data(doomed, lists=1, faces=5)
    await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    removal = await removal_task(client, doomed)
    events = (await client.get(f"/4/audit?target_id={doomed}", headers=ADMIN)).json()
    actions = [e["action"] for e in events["events"]]
    assert actions[0] == "account.delete"  # newest first; no end yet
    start = events["events"][0]
    assert start["actor_login"] == ADMIN_LOGIN
    assert start["details"]["task_id"] == removal["task_id"]
    assert start["details"]["login"] == "audited@example.com"

    await run_until_idle(settings())
    events = (await client.get(f"/4/audit?target_id={doomed}", headers=ADMIN)).json()
    end = events["events"][0]
    assert end["action"] == "account.delete_finished"
    assert end["details"]["task_id"] == removal["task_id"]
    assert end["details"]["removed_faces"] == 5


async def test_the_removal_task_cannot_be_cancelled_or_deleted_while_it_runs(client):
    doomed = await create_account(client, "stubborn@example.com")
    await add_platform_data(doomed, faces=3)
    await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    task_id = (await removal_task(client, doomed))["task_id"]
    cancel = await client.patch(f"/4/tasks/{task_id}", headers=ADMIN)
    assert cancel.status_code == 400 and cancel.json()["error_code"] == 29301
    delete = await client.delete(f"/4/tasks/{task_id}", headers=ADMIN)
    assert delete.status_code == 400 and delete.json()["error_code"] == 29301
    assert (await task(client, task_id))["task_status"] == 0
    await run_until_idle(settings())
    assert (await client.delete(f"/4/tasks/{task_id}", headers=ADMIN)).status_code == 204


async def test_rows_added_while_it_is_removed_go_too(client):
    doomed = await create_account(client, "busy@example.com")
    await add_platform_data(doomed, lists=1, faces=40)
    await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    # Some batches run; then another service writes faces into the account.
    worker = Worker(settings(gc_batch_size=5, subtask_size=20), worker_id="partial")
    await worker.run_one()
    await db.fetch(
        "INSERT INTO face (account_id) SELECT $1 FROM generate_series(1, 25)", uuid.UUID(doomed)
    )
    await run_until_idle(settings(gc_batch_size=5, subtask_size=20))
    assert await owned_rows(doomed) == dict.fromkeys(await owned_rows(doomed), 0)
    assert (
        await db.fetchrow("SELECT 1 FROM account WHERE account_id = $1", uuid.UUID(doomed)) is None
    )


async def test_a_failed_removal_is_started_again(client, monkeypatch):
    doomed = await create_account(client, "retry@example.com")
    await add_platform_data(doomed, lists=1, faces=10)
    await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    first = (await removal_task(client, doomed))["task_id"]

    worker = Worker(settings(), work_factory=failing("apply"))
    while await worker.run_one():
        pass
    assert (await task(client, first))["task_status"] == 3
    # Within RESUME_AFTER_SECONDS of the failure nothing starts; after it, a new task.
    assert await tasks_service.resume_account_removals(settings()) == []
    monkeypatch.setattr(tasks_service, "RESUME_AFTER_SECONDS", 0)
    (second,) = await tasks_service.resume_account_removals(settings())
    assert await tasks_service.resume_account_removals(settings()) == []  # not twice
    await run_until_idle(settings())
    assert (await task(client, second))["task_status"] == 5
    assert (
        await db.fetchrow("SELECT 1 FROM account WHERE account_id = $1", uuid.UUID(doomed)) is None
    )
    resumed = (await client.get(f"/4/audit?target_id={doomed}", headers=ADMIN)).json()["events"]
    assert [e["action"] for e in resumed][:2] == ["account.delete_finished", "account.delete"]
    assert resumed[1]["details"]["resumed"] is True and resumed[1]["actor_login"] == "system"


async def test_a_removal_task_deleted_by_hand_is_started_again(client):
    doomed = await create_account(client, "orphan@example.com")
    await add_platform_data(doomed, faces=4)
    await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    first = (await removal_task(client, doomed))["task_id"]
    await db.fetch("DELETE FROM task WHERE task_id = $1", first)
    (second,) = await tasks_service.resume_account_removals(settings())
    await run_until_idle(settings())
    assert (await task(client, second))["task_status"] == 5
    assert (await owned_rows(doomed))["face"] == 0


async def test_other_tasks_leave_a_removed_account_alone(client):
    kept = await create_account(client, "other@example.com")
    kept_faces = len(await add_platform_data(kept, lists=1, faces=5)) and 5
    doomed = await create_account(client, "left@example.com")
    await add_platform_data(doomed, lists=1, faces=7)
    await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    # A preview of every face, and a GC of the removed account's faces: neither sees them.
    preview = await create_gc(client, {"target": "faces", "dry_run": True})
    named = await create_gc(client, {"target": "faces", "filters": {"account_id": doomed}})
    await run_until_idle(settings())
    every = (await client.get(f"/4/tasks/{preview}/result", headers=ADMIN)).json()
    assert every["would_remove_count"] == kept_faces
    assert (await client.get(f"/4/tasks/{named}/result", headers=ADMIN)).json()[
        "removed_count"
    ] == 0


async def test_tasks_created_before_the_removal_leave_its_rows_to_it(client):
    doomed = await create_account(client, "earlier@example.com")
    await add_platform_data(doomed, lists=1, faces=9, attributes=9)
    gc_faces = await create_gc(client, {"target": "faces", "filters": {"account_id": doomed}})
    gc_attributes = await create_gc(
        client, {"target": "face_attributes", "filters": {"account_id": doomed}}
    )
    await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    await run_until_idle(settings())
    for task_id in (gc_faces, gc_attributes):
        assert (await task(client, task_id))["task_status"] == 5
        result = (await client.get(f"/4/tasks/{task_id}/result", headers=ADMIN)).json()
        assert result["removed_count"] == 0
    removal = await removal_task(client, doomed)
    result = (await client.get(f"/4/tasks/{removal['task_id']}/result", headers=ADMIN)).json()
    assert (result["removed_faces"], result["removed_face_attributes"]) == (9, 9)


async def test_two_removals_of_one_account_at_once(client):
    doomed = await create_account(client, "twice@example.com")
    await add_platform_data(doomed, faces=3)
    first, second = await asyncio.gather(
        client.delete(f"/4/accounts/{doomed}", headers=ADMIN),
        client.delete(f"/4/accounts/{doomed}", headers=ADMIN),
    )
    assert sorted([first.status_code, second.status_code]) == [204, 404]
    tasks = (await client.get("/4/tasks", headers=ADMIN)).json()["tasks"]
    assert len([t for t in tasks if t["content"].get("target") == "account"]) == 1


async def test_an_account_owning_most_of_a_table_is_removed_in_heap_order(client):
    """Then the batches are ranges of blocks (rows that lie together), not of ids."""
    kept = await create_account(client, "small@example.com")
    await add_platform_data(kept, lists=1, faces=10, attributes=10)
    doomed = await create_account(client, "dense@example.com")
    await add_platform_data(doomed, lists=2, faces=400, attributes=300)
    await db.fetch("ANALYZE face")
    await db.fetch("ANALYZE face_attribute")
    rows_before = await owned_rows(doomed)
    await client.delete(f"/4/accounts/{doomed}", headers=ADMIN)
    removal = await removal_task(client, doomed)
    parts = (await client.get(f"/4/tasks/{removal['task_id']}/subtasks", headers=ADMIN)).json()
    by_table = {s["content"]["table"]: s["content"] for s in parts["subtasks"]}
    assert "block_gte" in by_table["face"] and "block_gte" in by_table["face_attribute"]
    assert "id_gte" in by_table["event"]
    # Rows added at the end of the table meanwhile go too (the last range is open).
    await db.fetch(
        "INSERT INTO face (account_id) SELECT $1 FROM generate_series(1, 50)", uuid.UUID(doomed)
    )
    await run_until_idle(settings(gc_batch_size=30))
    assert await owned_rows(doomed) == dict.fromkeys(rows_before, 0)
    result = (await client.get(f"/4/tasks/{removal['task_id']}/result", headers=ADMIN)).json()
    assert result["removed_faces"] == 450 and result["removed_face_attributes"] == 300
    assert (await client.get(f"/4/accounts/{kept}", headers=ADMIN)).json()["stats"] == {
        "list_count": 1,
        "face_count": 10,
        "face_attribute_count": 10,
    }
