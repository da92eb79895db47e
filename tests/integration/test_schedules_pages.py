"""The schedule pages (list, form with the live preview, detail with history,
pause / start, run now, delete) and the extension routes they stand on
(`/preview`, `/{id}/run`, `/{id}/fires`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape as html_text
from typing import Any

import httpx

from tests.conftest import ADMIN, HTML
from tests.integration.tasks_helpers import settings
from tests.integration.test_pages import page_sign_in
from tests.integration.test_tasks_pages import post_form
from webapp import db
from webapp.schedules import service

URL = "/4/tasks/schedules"
GC_TASK = {
    "task_type": 4,
    "content": {"target": "face_descriptors", "filters": {"descriptor_version": 56}},
}
BODY = {"task": GC_TASK, "trigger": {"cron": "5 4 * * *", "cron_timezone": "Europe/Berlin"}}

# The schedule form as a browser without JavaScript sends it (a GC schedule).
GC_SCHEDULE_FORM: list[tuple[str, str]] = [
    ("task.task_type", "4"),
    ("trigger.cron", "30 2 * * 1-5"),
    ("trigger.cron_timezone", "America/New_York"),
    ("task.content.target", "face_descriptors"),
    ("task.content.filters.descriptor_version", "56"),
    ("task.content.filters.account_id", ""),
    ("task.content.filters.create_time__gte", ""),
    ("task.content.filters.create_time__lt", ""),
    ("task.content.filters.list_id", ""),
    ("task.content.filters.handler_id", ""),
    ("task.content.store_results", "false"),
    ("task.content.store_results", "true"),
    ("task.description", "nightly"),
    ("task.result_storage_policy.ttl", "7"),
    ("behaviour.create_stopped", "false"),
    ("behaviour.start_immediately", "false"),
]


def schedule_form(**changes: str) -> list[tuple[str, str]]:
    """The GC schedule form with fields changed (dots in names written as __)."""
    values = {name.replace("__", "."): value for name, value in changes.items()}
    return [(name, values.pop(name, value)) for name, value in GC_SCHEDULE_FORM] + list(
        values.items()
    )


async def signed_in(client: httpx.AsyncClient) -> None:
    await page_sign_in(client)


async def create(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> int:
    response = await client.post(URL, json=body or BODY, headers=ADMIN)
    assert response.status_code == 201, response.text
    return int(response.json()["schedule_id"])


async def schedule_count() -> int:
    return int((await db.fetch("SELECT count(*) AS n FROM task_schedule"))[0]["n"])


def text_of(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    assert match is not None, testid
    return html_text(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip())


# ------------------------------------------------------------------ the list


async def test_list_page_shows_words_zone_status_next_run_and_last_run(client):
    first = await create(client)
    second = await create(client, {**BODY, "trigger": {"cron": "0 2 * * 1-5"}})
    await service.fire(second, datetime(2026, 11, 27, 2, tzinfo=UTC), settings())
    await service.fire(second, datetime(2026, 11, 28, 2, tzinfo=UTC), settings())
    await signed_in(client)
    page = await client.get("/tasks/schedules", headers=HTML)
    assert page.status_code == 200
    rows = re.findall(
        r'<tr data-testid="schedule-row" data-schedule-id="(\d+)">(.*?)</tr>', page.text, re.S
    )
    assert [int(sid) for sid, _ in rows] == [second, first]  # newest first
    second_row, first_row = rows[0][1], rows[1][1]
    assert "At 04:05" in first_row and "Europe/Berlin" in first_row
    # The next run on the schedule's own clock (04:05 in Berlin, winter: CET).
    assert re.search(r"\d{4}-\d\d-\d\d 04:05 CET", first_row)
    assert "never" in first_row
    assert "At 02:00, Monday through Friday" in second_row
    # The newest fire: skipped, because the task of the first one is still pending.
    assert "skipped" in second_row and "has not finished (it is pending)" in second_row


async def test_list_page_filters_by_type_and_says_what_is_wrong(client):
    await create(client)
    await signed_in(client)
    none = await client.get("/tasks/schedules", params={"task_type": "8"}, headers=HTML)
    assert "No schedules match" in none.text
    bad = await client.get(
        "/tasks/schedules", params={"create_time__gte": "yesterday"}, headers=HTML
    )
    assert bad.status_code == 400
    assert 'data-testid="filter-error"' in bad.text
    # The API keeps its bare array.
    api = await client.get(URL, params={"task_type": "4"}, headers=ADMIN)
    assert isinstance(api.json(), list) and len(api.json()) == 1


# ------------------------------------------------------------------ the preview


async def test_preview_says_the_cron_in_words_with_the_next_five_runs_in_the_zone(client):
    await signed_in(client)
    response = await client.get(
        "/tasks/schedules/preview",
        params={"trigger.cron": "30 2 * * 1-5", "trigger.cron_timezone": "Europe/Berlin"},
        headers={**HTML, "HX-Request": "true"},
    )
    assert response.status_code == 200
    assert text_of(response.text, "cron-words") == "At 02:30, Monday through Friday"
    runs = re.findall(r"<li><time[^>]*>([^<]+)</time>", response.text)
    assert len(runs) == 5
    assert all(re.match(r"(Mon|Tue|Wed|Thu|Fri) \d{4}-\d\d-\d\d 02:30 CES?T$", run) for run in runs)


async def test_preview_of_a_wrong_trigger_says_why(client):
    await signed_in(client)
    htmx = {**HTML, "HX-Request": "true"}
    wrong = await client.get(
        "/tasks/schedules/preview", params={"trigger.cron": "61 * * * *"}, headers=htmx
    )
    assert "cron-preview-error" in wrong.text and "61" in wrong.text
    zone = await client.get(
        "/tasks/schedules/preview",
        params={"trigger.cron": "0 3 * * *", "trigger.cron_timezone": "Mars/Olympus"},
        headers=htmx,
    )
    assert "unknown time zone" in zone.text


async def test_preview_as_json(client):
    response = await client.get(
        f"{URL}/preview", params={"cron": "0 0 * * 0", "cron_timezone": "utc"}, headers=ADMIN
    )
    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "At 00:00, only on Sunday"
    sundays = [datetime.fromisoformat(t) for t in body["next_fire_times"]]
    assert len(sundays) == 5 and all(t.weekday() == 6 for t in sundays)
    missing = await client.get(f"{URL}/preview", headers=ADMIN)
    assert missing.status_code == 400 and missing.json()["error_code"] == 12014
    bad = await client.get(f"{URL}/preview", params={"cron": "* * *"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["error_code"] == 29340


# ------------------------------------------------------------------ create and edit


async def test_the_form_creates_what_the_api_would(client):
    await signed_in(client)
    new = await client.get("/tasks/schedules/new", headers=HTML)
    assert new.status_code == 200 and 'data-testid="next-runs"' in new.text
    response = await post_form(client, "/tasks/schedules", schedule_form())
    assert response.status_code == 303
    match = re.fullmatch(r"/tasks/schedules/(\d+)", response.headers["location"])
    assert match is not None
    from_form = (await client.get(f"{URL}/{match.group(1)}", headers=ADMIN)).json()
    api_id = await create(
        client,
        {
            "task": {
                "task_type": 4,
                "content": {
                    "target": "face_descriptors",
                    "filters": {"descriptor_version": 56},
                    "store_results": True,
                },
                "description": "nightly",
                "result_storage_policy": {"ttl": 7},
            },
            "trigger": {"cron": "30 2 * * 1-5", "cron_timezone": "America/New_York"},
        },
    )
    from_api = (await client.get(f"{URL}/{api_id}", headers=ADMIN)).json()
    for key in ("task", "trigger", "status"):
        assert from_form[key] == from_api[key], key
    detail = await client.get(response.headers["location"], headers=HTML)
    assert "Schedule " + match.group(1) + " created" in detail.text
    assert text_of(detail.text, "schedule-words") == "At 02:30, Monday through Friday"


async def test_an_extraction_schedule_from_the_form(client):
    await signed_in(client)
    form = await client.get("/tasks/schedules/new", params={"task_type": "8"}, headers=HTML)
    assert 'name="task.content.extraction_target"' in form.text
    pairs = [
        ("task.task_type", "8"),
        ("trigger.cron", "0 1 * * *"),
        ("trigger.cron_timezone", "utc"),
        ("task.content.filters.objects_type", "faces"),
        ("task.content.extraction_target", "basic_attributes"),
        ("task.content.filters.account_id", ""),
        ("task.content.options.missing", "false"),
        ("task.content.options.missing", "true"),
        ("task.description", ""),
        ("task.result_storage_policy.ttl", ""),
    ]
    response = await post_form(client, "/tasks/schedules", pairs)
    assert response.status_code == 303, response.text
    (stored,) = (await client.get(URL, headers=ADMIN)).json()
    assert stored["task"]["task_type"] == 8
    assert stored["task"]["content"]["extraction_target"] == "basic_attributes"
    assert stored["task"]["content"]["options"] == {"missing": True}


async def test_a_refused_form_comes_back_with_the_reason_and_stores_nothing(client):
    await signed_in(client)
    bad_cron = await post_form(
        client, "/tasks/schedules", schedule_form(trigger__cron="30 2 * *"), htmx=True
    )
    assert bad_cron.status_code == 422
    reason = text_of(bad_cron.text, r"schedule-error-trigger\.cron")
    assert "must have five fields" in reason and "got 4" in reason
    assert 'value="30 2 * *"' in bad_cron.text  # what was typed stays
    bad_version = await post_form(
        client,
        "/tasks/schedules",
        schedule_form(task__content__filters__descriptor_version=""),
    )
    assert bad_version.status_code == 422
    assert "<html" in bad_version.text  # without JavaScript: the whole page
    message = text_of(bad_version.text, r"gc-error-task\.content\.filters\.descriptor_version")
    assert message.startswith("Enter the descriptor version")
    zone = await post_form(
        client, "/tasks/schedules", schedule_form(trigger__cron_timezone="Nowhere/Land")
    )
    assert "unknown time zone" in text_of(zone.text, r"schedule-error-trigger\.cron_timezone")
    assert await schedule_count() == 0


async def test_the_edit_form_shows_the_schedule_and_keeps_its_notification_policy(client):
    policy = {"task_callbacks": [{"type": "telegram", "token": "123:abc", "chat_id": 7}]}
    sid = await create(client, {**BODY, "task": {**GC_TASK, "notification_policy": policy}})
    await signed_in(client)
    form = await client.get(f"/tasks/schedules/{sid}/edit", headers=HTML)
    assert form.status_code == 200
    assert 'value="5 4 * * *"' in form.text and 'value="Europe/Berlin"' in form.text
    assert re.search(
        r'name="task.content.filters.descriptor_version"[^>]*value="56"', form.text, re.S
    )
    changed = schedule_form(trigger__cron="0 5 * * *", behaviour__create_stopped="true")
    saved = await post_form(client, f"/tasks/schedules/{sid}/edit", changed)
    assert saved.status_code == 303
    stored = await service.stored_task(sid)
    assert stored["notification_policy"]["task_callbacks"][0]["token"] == "123:abc"
    after = (await client.get(f"{URL}/{sid}", headers=ADMIN)).json()
    assert after["trigger"] == {"cron": "0 5 * * *", "cron_timezone": "America/New_York"}
    assert after["status"] == "paused" and after["next_run_time"] is None


# ------------------------------------------------------------------ pause, run, delete


async def test_pause_and_start_from_the_page(client):
    sid = await create(client)
    await signed_in(client)
    paused = await post_form(client, f"/tasks/schedules/{sid}/status", [("action", "pause")])
    assert paused.status_code == 303
    page = await client.get(f"/tasks/schedules/{sid}", headers=HTML)
    assert text_of(page.text, "schedule-status") == "paused"
    assert f"Schedule {sid} paused" in page.text
    assert 'data-testid="start-schedule"' in page.text
    started = await post_form(client, f"/tasks/schedules/{sid}/status", [("action", "start")])
    assert started.status_code == 303
    assert (await client.get(f"{URL}/{sid}", headers=ADMIN)).json()["status"] == "running"
    wrong = await post_form(client, f"/tasks/schedules/{sid}/status", [("action", "stop")])
    assert wrong.status_code == 400


async def test_run_now_creates_one_task_then_records_the_skip(client):
    sid = await create(client, {**BODY, "behaviour": {"create_stopped": True}})
    first = await client.post(f"{URL}/{sid}/run", headers=ADMIN)
    assert first.status_code == 201
    task_id = first.json()["task_id"]
    task = (await client.get(f"/4/tasks/{task_id}", headers=ADMIN)).json()
    assert task["schedule_id"] == sid
    busy = await client.post(f"{URL}/{sid}/run", headers=ADMIN)
    assert busy.status_code == 409
    assert busy.json()["error_code"] == 29105
    assert f"previous task {task_id} has not finished" in busy.json()["detail"]
    fires = (await client.get(f"{URL}/{sid}/fires", headers=ADMIN)).json()["fires"]
    assert [f["outcome"] for f in fires] == ["skipped", "created"]
    assert fires[1]["task_id"] == task_id and fires[1]["task_status"] == 0
    # Still paused: run now does not start it.
    assert (await client.get(f"{URL}/{sid}", headers=ADMIN)).json()["status"] == "paused"
    missing = await client.post(f"{URL}/999999/run", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error_code"] == 28040


async def test_run_now_from_the_page(client):
    sid = await create(client)
    await signed_in(client)
    ran = await post_form(client, f"/tasks/schedules/{sid}/run", [])
    assert ran.status_code == 303
    assert re.fullmatch(r"/tasks/\d+", ran.headers["location"])
    again = await post_form(client, f"/tasks/schedules/{sid}/run", [])
    assert again.headers["location"] == f"/tasks/schedules/{sid}"
    page = await client.get(again.headers["location"], headers=HTML)
    assert "Not run: the previous task" in page.text
    reasons = re.findall(r'data-testid="fire-reason">([^<]+)<', page.text)
    assert len(reasons) == 1 and "has not finished" in reasons[0]


async def test_fires_are_paged_newest_first_and_404_for_no_schedule(client):
    sid = await create(client)
    for day in range(1, 4):
        await db.fetch(
            "INSERT INTO schedule_fire (schedule_id, fire_time, outcome, reason) "
            "VALUES ($1, $2, 'skipped', 'test')",
            sid,
            datetime(2026, 11, day, tzinfo=UTC),
        )
    page = await client.get(f"{URL}/{sid}/fires", params={"page_size": 2}, headers=ADMIN)
    times = [f["fire_time"] for f in page.json()["fires"]]
    assert times == ["2026-11-03T00:00:00.000Z", "2026-11-02T00:00:00.000Z"]
    second = await client.get(
        f"{URL}/{sid}/fires", params={"page_size": 2, "page": 2}, headers=ADMIN
    )
    assert [f["fire_time"] for f in second.json()["fires"]] == ["2026-11-01T00:00:00.000Z"]
    missing = await client.get(f"{URL}/999999/fires", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error_code"] == 28040


async def test_delete_asks_for_the_number_and_keeps_the_tasks(client):
    sid = await create(client, {**BODY, "behaviour": {"start_immediately": True}})
    await signed_in(client)
    wrong = await post_form(client, f"/tasks/schedules/{sid}/delete", [("_confirm", "1234")])
    assert wrong.status_code == 422
    assert f"Type '{sid}' to confirm" in text_of(wrong.text, "delete-schedule-error")
    assert await schedule_count() == 1
    done = await post_form(client, f"/tasks/schedules/{sid}/delete", [("_confirm", str(sid))])
    assert done.status_code == 303 and done.headers["location"] == "/tasks/schedules"
    assert await schedule_count() == 0
    tasks = (await client.get("/4/tasks", params={"schedule_id": sid}, headers=ADMIN)).json()
    assert len(tasks["tasks"]) == 1
    left = await db.fetch("SELECT 1 FROM schedule_fire WHERE schedule_id = $1", sid)
    assert left == []


async def test_schedule_pages_need_a_session(client):
    for path in ("/tasks/schedules", "/tasks/schedules/new", "/tasks/schedules/1"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


async def test_form_posts_from_another_site_are_refused(client):
    sid = await create(client)
    await signed_in(client)
    response = await client.post(
        f"/tasks/schedules/{sid}/status",
        headers={
            **HTML,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "https://evil.example.com",
            "Sec-Fetch-Site": "cross-site",
        },
        content="action=pause",
    )
    assert response.status_code == 403
    assert (await client.get(f"{URL}/{sid}", headers=ADMIN)).json()["status"] == "running"
