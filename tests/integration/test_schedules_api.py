"""Routes 38-43 (task schedules), `fire` and the scheduler leader, on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ADMIN
from tests.integration.tasks_helpers import poll_until, settings
from webapp import db
from webapp.schedules import service
from webapp.schedules.leader import Leader

GC_TASK = {
    "task_type": 4,
    "content": {"target": "face_descriptors", "filters": {"descriptor_version": 56}},
    "description": "nightly gc",
}
TRIGGER = {"cron": "5 4 * * *", "cron_timezone": "utc"}
BODY = {"task": GC_TASK, "trigger": TRIGGER}
URL = "/4/tasks/schedules"
DEFAULT_POLICIES = {
    "notification_policy": {"enable": 1, "task_callbacks": [], "subtask_callbacks": []},
    "result_storage_policy": {"ttl": None},
}
"""What a task, and so a schedule's task, carries when no policy was given."""


async def count(table: str) -> int:
    row = await db.fetchrow(f"SELECT count(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


async def create(client, body=None) -> int:  # type: ignore[no-untyped-def]
    response = await client.post(URL, json=body or BODY, headers=ADMIN)
    assert response.status_code == 201, response.text
    return int(response.json()["schedule_id"])


async def test_create_and_get(client):
    response = await client.post(URL, json=BODY, headers=ADMIN)
    assert response.status_code == 201
    schedule_id = response.json()["schedule_id"]
    assert response.headers["location"] == f"{URL}/{schedule_id}"
    got = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    assert set(got) == {
        "schedule_id",
        "task_ids",
        "task",
        "trigger",
        "status",
        "next_run_time",
        "create_time",
        "last_update_time",
    }
    assert got["task"] == {**GC_TASK, **DEFAULT_POLICIES}
    assert got["trigger"] == TRIGGER
    assert got["status"] == "running"
    assert got["task_ids"] == []
    assert got["next_run_time"].endswith(":05:00.000Z")
    assert await count("task") == 0


async def test_start_immediately_creates_one_task_with_the_schedule_id(client):
    body = {**BODY, "behaviour": {"start_immediately": True, "create_stopped": False}}
    schedule_id = await create(client, body)
    got = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    assert len(got["task_ids"]) == 1
    task = (await client.get(f"/4/tasks/{got['task_ids'][0]}", headers=ADMIN)).json()
    assert task["schedule_id"] == schedule_id
    assert task["task_type"] == 4
    assert task["description"] == "nightly gc"


async def test_create_stopped_is_paused(client):
    schedule_id = await create(client, {**BODY, "behaviour": {"create_stopped": True}})
    got = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    assert got["status"] == "paused"
    assert got["next_run_time"] is None


async def test_iana_zone_is_accepted_and_normalised_cron(client):
    trigger = {"cron": " 30  2 * * * ", "cron_timezone": "Europe/Berlin"}
    schedule_id = await create(client, {"task": GC_TASK, "trigger": trigger})
    got = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    assert got["trigger"] == {"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"}


async def test_list_filters_and_pages(client):
    first = await create(client)
    extract = {
        "task_type": 8,
        "content": {"filters": {"objects_type": "faces"}, "extraction_target": "basic_attributes"},
    }
    second = await create(client, {"task": extract, "trigger": TRIGGER})
    response = await client.get(URL, headers=ADMIN)
    assert response.status_code == 200
    assert [s["schedule_id"] for s in response.json()] == [second, first]
    only_gc = (await client.get(URL, params={"task_type": 4}, headers=ADMIN)).json()
    assert [s["schedule_id"] for s in only_gc] == [first]
    paged = (await client.get(URL, params={"page": 2, "page_size": 1}, headers=ADMIN)).json()
    assert [s["schedule_id"] for s in paged] == [first]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get(URL, params={"create_time__gte": future}, headers=ADMIN)).json() == []
    assert (
        len((await client.get(URL, params={"create_time__lt": future}, headers=ADMIN)).json()) == 2
    )
    for params in ({"page": 0}, {"page_size": 1001}, {"task_type": "x"}, {"create_time__lt": "x"}):
        bad = await client.get(URL, params=params, headers=ADMIN)
        assert bad.status_code == 400
        assert bad.json()["error_code"] == 12012


async def test_a_schedules_task_carries_both_policies_as_its_tasks_do(client):
    """Given or not, stored before or after: every answer shows the schedule's task
    with `notification_policy` and `result_storage_policy`, exactly as the tasks it
    creates carry them."""
    given = {**GC_TASK, "result_storage_policy": {"ttl": 7}}
    with_ttl = await create(client, {"task": given, "trigger": TRIGGER})
    without = await create(client)
    # A schedule stored by an earlier version, with neither policy in its task.
    old = await db.fetchrow(
        "INSERT INTO task_schedule (task_type, task, trigger, status) "
        "VALUES (4, $1::jsonb, $2::jsonb, 'paused') RETURNING schedule_id",
        '{"task_type": 4, "content": {"target": "face_attributes"}}',
        '{"cron": "0 3 * * *", "cron_timezone": "utc"}',
    )
    assert old is not None
    shown = {
        sid: (await client.get(f"{URL}/{sid}", headers=ADMIN)).json()["task"]
        for sid in (with_ttl, without, old["schedule_id"])
    }
    assert shown[with_ttl]["result_storage_policy"] == {"ttl": 7}
    assert shown[with_ttl]["notification_policy"] == DEFAULT_POLICIES["notification_policy"]
    assert shown[without] == {**GC_TASK, **DEFAULT_POLICIES}
    assert shown[old["schedule_id"]] == {
        "task_type": 4,
        "content": {"target": "face_attributes"},
        **DEFAULT_POLICIES,
    }
    listed = (await client.get(URL, headers=ADMIN)).json()
    assert all(set(DEFAULT_POLICIES) <= set(item["task"]) for item in listed)
    assert {item["schedule_id"]: item["task"] for item in listed} == shown
    # The task a fire creates carries the very same policies.
    fired = await service.fire(without, datetime(2026, 12, 1, 4, 5, tzinfo=UTC), settings())
    assert fired is not None and fired.task_id is not None
    task = (await client.get(f"/4/tasks/{fired.task_id}", headers=ADMIN)).json()
    assert {name: task[name] for name in DEFAULT_POLICIES} == DEFAULT_POLICIES


async def test_not_found(client):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await client.request(
            method, f"{URL}/999", json=BODY, params={"action": "pause"}, headers=ADMIN
        )
        assert response.status_code == 404, method
        assert response.json()["error_code"] == 28040
        assert response.json()["detail"] == "Schedule with id 999 not found"
    bad = await client.get(f"{URL}/abc", headers=ADMIN)
    assert bad.status_code == 400
    assert bad.json()["detail"] == "Bad query parameters 'schedule_id'"


@pytest.mark.parametrize(
    ("body", "code", "path"),
    [
        ({**BODY, "trigger": {"cron": "5 4 * *"}}, 12022, "trigger.cron"),
        ({**BODY, "trigger": {"cron": "61 4 * * *"}}, 12022, "trigger.cron"),
        (
            {**BODY, "trigger": {**TRIGGER, "cron_timezone": "Mars/Base"}},
            12022,
            "trigger.cron_timezone",
        ),
        ({**BODY, "task": {**GC_TASK, "task_type": 1}}, 12022, "task.task_type"),
        ({**BODY, "task": {**GC_TASK, "task_type": 6}}, 12022, "task.task_type"),
        (
            {**BODY, "task": {**GC_TASK, "content": {"target": "faces", "filters": {"x": 1}}}},
            12022,
            "task.content.filters",
        ),
        ({**BODY, "task": {**GC_TASK, "description": "x" * 129}}, 12022, "task.description"),
        ({**BODY, "behaviour": {"start_immediately": "yes"}}, 12022, "behaviour.start_immediately"),
        ({"task": GC_TASK}, 12022, "trigger"),
        ({}, 12005, None),
    ],
)
async def test_bad_bodies_store_nothing(client, body, code, path):
    response = await client.post(URL, json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error_code"] == code
    if path is not None:
        assert f"Path: '{path}'" in error["detail"]
    assert await count("task_schedule") == 0
    assert await count("task") == 0


async def test_bad_cron_says_why(client):
    response = await client.post(
        URL, json={**BODY, "trigger": {"cron": "0 25 * * *"}}, headers=ADMIN
    )
    assert response.status_code == 400
    assert "25" in response.json()["detail"]


async def test_replace_cancels_the_running_task_and_takes_the_new_trigger(client):
    body = {**BODY, "behaviour": {"start_immediately": True}}
    schedule_id = await create(client, body)
    (task_id,) = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()["task_ids"]
    new = {"task": GC_TASK, "trigger": {"cron": "0 12 * * 1", "cron_timezone": "America/New_York"}}
    response = await client.put(f"{URL}/{schedule_id}", json=new, headers=ADMIN)
    assert response.status_code == 200
    assert response.json() == {"schedule_id": schedule_id}
    task = (await client.get(f"/4/tasks/{task_id}", headers=ADMIN)).json()
    assert task["task_status"] == 2
    got = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    assert got["trigger"] == new["trigger"]
    assert got["task_ids"] == [task_id]
    bad = await client.put(
        f"{URL}/{schedule_id}", json={**new, "trigger": {"cron": "x"}}, headers=ADMIN
    )
    assert bad.status_code == 400
    assert (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()["trigger"] == new[
        "trigger"
    ]


async def test_pause_and_start(client):
    schedule_id = await create(client)
    for action, status in (("pause", "paused"), ("pause", "paused"), ("start", "running")):
        response = await client.patch(
            f"{URL}/{schedule_id}", params={"action": action}, headers=ADMIN
        )
        assert response.status_code == 204
        assert (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()["status"] == status
    bad = await client.patch(f"{URL}/{schedule_id}", params={"action": "stop"}, headers=ADMIN)
    assert bad.status_code == 400
    assert bad.json()["error_code"] == 12012
    assert bad.json()["detail"] == "Bad query parameters 'action'"
    missing = await client.patch(f"{URL}/{schedule_id}", headers=ADMIN)
    assert missing.status_code == 400
    assert missing.json()["error_code"] == 12014


async def test_delete_keeps_its_tasks(client):
    schedule_id = await create(client, {**BODY, "behaviour": {"start_immediately": True}})
    response = await client.delete(f"{URL}/{schedule_id}", headers=ADMIN)
    assert response.status_code == 204
    assert (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).status_code == 404
    tasks = (
        await client.get("/4/tasks", params={"schedule_id": schedule_id}, headers=ADMIN)
    ).json()
    assert len(tasks["tasks"]) == 1


async def test_schedules_need_an_admin(client):
    response = await client.get(URL)
    assert response.status_code == 401


# ------------------------------------------------------------------ fire()


async def fires(schedule_id: int) -> list[dict]:  # type: ignore[type-arg]
    rows = await db.fetch(
        "SELECT fire_time, outcome, task_id, reason FROM schedule_fire WHERE schedule_id = $1 "
        "ORDER BY fire_time",
        schedule_id,
    )
    return [dict(row) for row in rows]


async def test_two_concurrent_fires_of_one_time_create_one_task(client):
    schedule_id = await create(client)
    at = datetime(2026, 5, 1, 4, 5, tzinfo=UTC)
    results = await asyncio.gather(*(service.fire(schedule_id, at, settings()) for _ in range(4)))
    assert sorted(r.outcome for r in results if r) == [
        "created",
        "duplicate",
        "duplicate",
        "duplicate",
    ]
    assert await count("task") == 1
    (record,) = await fires(schedule_id)
    assert record["outcome"] == "created"
    assert record["task_id"] is not None


async def test_a_fire_while_the_previous_task_runs_is_skipped_and_recorded(client):
    schedule_id = await create(client)
    first = await service.fire(schedule_id, datetime(2026, 5, 1, 4, 5, tzinfo=UTC), settings())
    assert first is not None and first.outcome == "created"
    second = await service.fire(schedule_id, datetime(2026, 5, 2, 4, 5, tzinfo=UTC), settings())
    assert second is not None and second.outcome == "skipped"
    assert f"previous task {first.task_id}" in (second.reason or "")
    assert [r["outcome"] for r in await fires(schedule_id)] == ["created", "skipped"]
    # Once it has ended, the next fire creates a task again.
    await db.fetch("UPDATE task SET task_status = 5 WHERE task_id = $1", first.task_id)
    third = await service.fire(schedule_id, datetime(2026, 5, 3, 4, 5, tzinfo=UTC), settings())
    assert third is not None and third.outcome == "created"
    assert await count("task") == 2


async def test_a_paused_or_deleted_schedule_does_not_fire(client):
    schedule_id = await create(client, {**BODY, "behaviour": {"create_stopped": True}})
    assert await service.fire(schedule_id, datetime.now(UTC), settings()) is None
    assert await service.fire(999_999, datetime.now(UTC), settings()) is None
    assert await count("task") == 0


# ------------------------------------------------------------------ the leader

TEST_LOCK = 5_019_999
"""Not the real key: a `luna-admin worker` started by another test may hold that."""


async def test_one_leader_and_a_takeover(client):
    fired: list[tuple[int, datetime]] = []

    async def record(schedule_id, fire_time, _settings):  # type: ignore[no-untyped-def]
        fired.append((schedule_id, fire_time))

    leaders = [
        Leader(settings(), lock_key=TEST_LOCK, retry_seconds=0.5, fire=record) for _ in range(2)
    ]
    stops = [asyncio.Event(), asyncio.Event()]
    runs = [
        asyncio.create_task(leader.run(stop)) for leader, stop in zip(leaders, stops, strict=True)
    ]
    try:
        await poll_until(lambda: _true(any(leader.is_leader for leader in leaders)), within=5)
        await asyncio.sleep(1.0)
        assert sum(leader.is_leader for leader in leaders) == 1
        first = 0 if leaders[0].is_leader else 1
        # A change reaches the leader's jobs within a second (LISTEN/NOTIFY).
        schedule_id = await create(client, {**BODY, "trigger": {"cron": "* * * * *"}})
        scheduler = leaders[first].scheduler
        assert scheduler is not None
        await poll_until(lambda: _true(scheduler.get_job(str(schedule_id)) is not None), within=1)
        await client.patch(f"{URL}/{schedule_id}", params={"action": "pause"}, headers=ADMIN)
        await poll_until(lambda: _true(scheduler.get_job(str(schedule_id)) is None), within=1)
        # The leader stops (its connection closes): the other takes over.
        stops[first].set()
        await runs[first]
        other = leaders[1 - first]
        await poll_until(lambda: _true(other.is_leader), within=5)
        assert not leaders[first].is_leader
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*runs, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value


async def test_after_downtime_the_leader_catches_up_once(client):
    """A schedule that missed several hourly fires while no leader ran fires once,
    for the latest missed hour, through the real APScheduler job and `fire`."""
    schedule_id = await create(client, {**BODY, "trigger": {"cron": "0 * * * *"}})
    await db.fetch(
        "UPDATE task_schedule SET last_update_time = now() - interval '5 hours' "
        "WHERE schedule_id = $1",
        schedule_id,
    )
    leader = Leader(settings(), lock_key=TEST_LOCK, retry_seconds=0.5)
    stop = asyncio.Event()
    run = asyncio.create_task(leader.run(stop))
    try:
        await poll_until(lambda: _has_fires(schedule_id), within=5)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await run
    (record,) = await fires(schedule_id)
    latest_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert record["fire_time"] == latest_hour
    assert record["outcome"] == "created"
    assert await count("task") == 1


async def _has_fires(schedule_id: int) -> bool:
    return bool(await fires(schedule_id))


POLICY = {
    "task_callbacks": [
        {
            "type": "http",
            "url": "https://hooks.example.com/luna",
            "authorization": {"type": "basic", "login": "ops", "password": "s3cret"},
        }
    ]
}


async def test_notification_secrets_are_masked_and_kept_on_replace(client):
    schedule_id = await create(client, {**BODY, "task": {**GC_TASK, "notification_policy": POLICY}})
    got = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    callback = got["task"]["notification_policy"]["task_callbacks"][0]
    assert callback["authorization"]["password"] == "********"
    # GET, then PUT what was read: the stored password stays.
    body = {"task": got["task"], "trigger": got["trigger"]}
    assert (await client.put(f"{URL}/{schedule_id}", json=body, headers=ADMIN)).status_code == 200
    stored = await service.stored_task(schedule_id)
    assert stored["notification_policy"]["task_callbacks"][0]["authorization"]["password"] == (
        "s3cret"
    )
    # A masked secret with nothing to keep is refused, not stored.
    response = await client.post(URL, json=body, headers=ADMIN)
    assert response.status_code == 400
    assert "task.notification_policy.task_callbacks.0" in response.json()["detail"]
    assert await count("task_schedule") == 1


async def test_a_fire_that_fails_is_tried_again_and_creates_one_task(client):
    """The database failing for a moment costs no fire; retrying creates nothing twice."""
    schedule_id = await create(client, {**BODY, "trigger": {"cron": "0 * * * *"}})
    attempts = 0

    async def flaky(sid, fire_time, settings_):  # type: ignore[no-untyped-def]
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("the database went away")
        result = await service.fire(sid, fire_time, settings_)
        if attempts == 2:
            raise ConnectionError("the answer was lost after the commit")
        return result

    leader = Leader(settings(), lock_key=TEST_LOCK, fire=flaky, fire_retry_seconds=0.01)
    await leader._run(schedule_id)
    assert attempts == 3
    (record,) = await fires(schedule_id)
    assert record["outcome"] == "created"
    assert await count("task") == 1


async def test_fire_many_fires_each_as_fire_would(client):
    """The leader's batch: created, skipped (previous task unfinished), left out
    (paused), and nothing twice when two batches overlap."""
    ids = [await create(client) for _ in range(3)]  # fresh, busy, paused
    when = datetime(2030, 1, 1, 4, 5, tzinfo=UTC)
    await service.fire(ids[1], when - timedelta(days=1), settings())  # its task is pending
    await client.patch(f"{URL}/{ids[2]}", params={"action": "pause"}, headers=ADMIN)
    results = await service.fire_many(ids, when, settings())
    assert results[ids[0]].outcome == "created"
    assert results[ids[1]].outcome == "skipped"
    assert "has not finished" in (results[ids[1]].reason or "")
    assert ids[2] not in results
    # Two batches of the same time at once, overlapping: each fire happens once.
    later = when + timedelta(days=1)
    await db.fetch("UPDATE task SET task_status = 5")
    both = await asyncio.gather(
        service.fire_many(ids[:2], later, settings()),
        service.fire_many(list(reversed(ids[:2])), later, settings()),
    )
    outcomes = sorted(result.outcome for batch in both for result in batch.values())
    assert outcomes == ["created", "created", "duplicate", "duplicate"]
    rows = await db.fetch("SELECT count(*) AS n FROM schedule_fire WHERE fire_time = $1", later)
    assert rows[0]["n"] == 2
    schedule = (await client.get(f"{URL}/{ids[0]}", headers=ADMIN)).json()
    assert schedule["next_run_time"] is not None


async def test_the_leader_fires_jobs_due_together_in_one_batch(client):
    ids = [await create(client) for _ in range(5)]
    batches: list[list[int]] = []

    async def record(schedule_ids, fire_time, settings_):  # type: ignore[no-untyped-def]
        batches.append(list(schedule_ids))
        return await service.fire_many(schedule_ids, fire_time, settings_)

    leader = Leader(settings(), lock_key=TEST_LOCK, fire_many=record)
    due = datetime(2030, 1, 1, 4, 5, tzinfo=UTC)
    for sid in ids:
        leader._due[str(sid)] = due
    await asyncio.gather(*(leader._run(sid) for sid in ids))
    assert batches == [ids]
    assert await count("task") == 5
