"""Schedules under the crontab(5) rules (issue 11; ROUTES.md "Schedules" and
route 42a): the preview's `start` and `count`, one validation for create,
replace, the preview and the page form, `next_run_time`, and the schedules
whose meaning the day rule changed (the migration's flag and log line, the
note on the pages)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

import pytest

from tests.conftest import ADMIN, HTML
from tests.integration.test_schedules_pages import (
    create,
    schedule_count,
    schedule_form,
    signed_in,
    text_of,
)
from tests.integration.test_tasks_pages import post_form
from webapp import db
from webapp.schedules.triggers import cron_trigger

URL = "/4/tasks/schedules"
PREVIEW = f"{URL}/preview"
GC_TASK = {
    "task_type": 4,
    "content": {"target": "face_descriptors", "filters": {"descriptor_version": 56}},
}


def body(cron: str, zone: str | None = "utc") -> dict[str, object]:
    trigger: dict[str, str] = {"cron": cron}
    if zone is not None:
        trigger["cron_timezone"] = zone
    return {"task": GC_TASK, "trigger": trigger}


# ------------------------------------------------------------ the preview (42a)


async def test_preview_around_a_spring_change(client):
    response = await client.get(
        PREVIEW,
        params={
            "cron": "30 2 * * *",
            "cron_timezone": "Europe/Berlin",
            "start": "2026-03-27T12:00:00+01:00",
            "count": "3",
        },
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "description": "At 02:30",
        "next_fire_times": [
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:00:00+02:00",  # 02:30 does not exist: right after the jump
            "2026-03-30T02:30:00+02:00",
        ],
    }


async def test_preview_around_an_autumn_change_with_a_start_on_the_zones_clock(client):
    response = await client.get(
        PREVIEW,
        params={
            "cron": "0 */2 * * *",
            "cron_timezone": "Europe/Berlin",
            "start": "2026-10-25T00:00",  # no offset: the zone's clock
            "count": "4",
        },
        headers=ADMIN,
    )
    assert response.json()["next_fire_times"] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",  # the clock reads 02:00 twice
        "2026-10-25T04:00:00+01:00",
        "2026-10-25T06:00:00+01:00",
    ]
    date_only = await client.get(
        PREVIEW,
        params={"cron": "0 0 * * *", "cron_timezone": "America/New_York", "start": "2026-11-01"},
        headers=ADMIN,
    )
    # Strictly after the start: the midnight that is the start is not shown.
    assert date_only.json()["next_fire_times"][0] == "2026-11-02T00:00:00-05:00"


async def test_preview_count_and_start_default(client):
    shown = await client.get(PREVIEW, params={"cron": "* * * * *"}, headers=ADMIN)
    times = [datetime.fromisoformat(t) for t in shown.json()["next_fire_times"]]
    assert len(times) == 5
    assert (
        datetime.now(UTC) < times[0] <= datetime.now(UTC).replace(second=0) + (times[1] - times[0])
    )
    hundred = await client.get(PREVIEW, params={"cron": "0 0 29 2 *", "count": 100}, headers=ADMIN)
    assert len(hundred.json()["next_fire_times"]) == 100
    assert all("-02-29T00:00:00+00:00" in t for t in hundred.json()["next_fire_times"])


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"count": "0"}, "count"),
        ({"count": "101"}, "count"),
        ({"count": "five"}, "count"),
        ({"start": "tomorrow"}, "start"),
        ({"start": "0001-01-01T00:00:00+14:00"}, "start"),
        ({"start": "9999-12-31T23:59:59-14:00"}, "start"),
        ({"start": "1899-12-31T00:00:00Z"}, "start"),
        ({"start": "2026-02-30"}, "start"),
    ],
)
async def test_preview_refuses_a_bad_start_or_count(client, params, name):
    response = await client.get(PREVIEW, params={"cron": "0 0 * * *", **params}, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == 12012
    assert response.json()["detail"] == f"Bad query parameters '{name}'"


# ----------------------------------------- one validation, everywhere a trigger comes in

REFUSED = [
    ("\uff10 \uff10 * * *", "utc", "cron", "ASCII"),  # full-width digits
    ("0 0 * * *", "right/Europe/Berlin", "cron_timezone", "Europe/Berlin"),
    ("0 0 * * *", "posix/Europe/Berlin", "cron_timezone", "Europe/Berlin"),
    ("0 0 * * *", "posixrules", "cron_timezone", "IANA"),
    ("0 0 * * *", "localtime", "cron_timezone", "IANA"),
    ("0 0 * * *", "", "cron_timezone", "empty"),
    ("0 0 * * *", "Europe/Nowhere", "cron_timezone", "unknown"),
    ("0 0 31 2 *", "utc", "cron", "never fires"),
    ("@daily", "utc", "cron", "five fields"),
    ("0 0 L * *", "utc", "cron", "L, W and #"),
    ("~ 0 * * *", "utc", "cron", "random"),
    ("0 24 * * *", "utc", "cron", "out of range"),
    ("5-1 * * * *", "utc", "cron", "backwards"),
]


@pytest.mark.parametrize(("cron", "zone", "field", "reason"), REFUSED)
async def test_a_refused_trigger_is_refused_by_create_replace_and_the_preview(
    client, cron, zone, field, reason
):
    created = await client.post(URL, json=body(cron, zone), headers=ADMIN)
    assert created.status_code == 400, created.text
    error = created.json()
    assert error["error_code"] == 12022
    assert f"Path: 'trigger.{field}'" in error["detail"] and reason in error["detail"]
    assert await schedule_count() == 0

    schedule_id = await create(client, body("5 4 * * *"))
    before = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    replaced = await client.put(f"{URL}/{schedule_id}", json=body(cron, zone), headers=ADMIN)
    assert replaced.status_code == 400 and replaced.json()["error_code"] == 12022
    assert (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json() == before

    previewed = await client.get(
        PREVIEW, params={"cron": cron, "cron_timezone": zone}, headers=ADMIN
    )
    assert previewed.status_code == 400, previewed.text
    assert previewed.json()["error_code"] == 29340
    assert previewed.json()["detail"].startswith(f"Bad query parameters '{field}': ")
    assert reason in previewed.json()["detail"]


async def test_the_page_form_and_its_preview_refuse_what_the_api_refuses(client):
    await signed_in(client)
    # A zone left blank in the form is not given, as every optional field of a form:
    # utc, the default (the API refuses "" itself, above).
    for cron, zone, field, reason in [case for case in REFUSED if case[1] != ""]:
        htmx = {**HTML, "HX-Request": "true"}
        shown = await client.get(
            "/tasks/schedules/preview",
            params={"trigger.cron": cron, "trigger.cron_timezone": zone},
            headers=htmx,
        )
        assert reason in text_of(shown.text, "cron-preview-error"), (cron, zone)
        posted = await post_form(
            client,
            "/tasks/schedules",
            schedule_form(trigger__cron=cron, trigger__cron_timezone=zone),
        )
        assert posted.status_code == 422, (cron, zone)
        assert reason in text_of(posted.text, f"schedule-error-trigger.{field}"), (cron, zone)
    assert await schedule_count() == 0


async def test_a_zone_left_blank_in_the_form_is_utc_in_its_preview_and_its_schedule(client):
    await signed_in(client)
    htmx = {**HTML, "HX-Request": "true"}
    shown = await client.get(
        "/tasks/schedules/preview",
        params={"trigger.cron": "0 0 * * *", "trigger.cron_timezone": ""},
        headers=htmx,
    )
    assert shown.status_code == 200 and 'data-testid="cron-preview-error"' not in shown.text
    posted = await post_form(
        client,
        "/tasks/schedules",
        schedule_form(trigger__cron="0 0 * * *", trigger__cron_timezone=""),
    )
    assert posted.status_code == 303, posted.text
    stored = await db.fetchrow("SELECT trigger FROM task_schedule")
    assert stored is not None and json.loads(stored["trigger"])["cron_timezone"] == "utc"


@pytest.mark.parametrize(
    ("cron", "zone"),
    [
        ("20-23/4 * * * *", "utc"),  # a step beyond the range: 20 alone
        ("0 0 * * 0-7", "UTC"),
        ("0 0 ? * MON", "Utc"),
        ("0 12 * * 5-0", "uTC"),
        ("0 0 29 2 1", "Etc/UTC"),
        ("0 0 * * 1/2", "Asia/Kathmandu"),
        ("30 2 * jan-mar mon-fri", "Australia/Lord_Howe"),
        ("\t5  4\t* * *", "Antarctica/Troll"),
    ],
)
async def test_what_crontab_takes_is_taken_everywhere(client, cron, zone):
    schedule_id = await create(client, body(cron, zone))
    got = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    assert got["trigger"] == {"cron": " ".join(cron.split()), "cron_timezone": zone}
    previewed = await client.get(
        PREVIEW, params={"cron": cron, "cron_timezone": zone}, headers=ADMIN
    )
    assert previewed.status_code == 200
    # next_run_time is the preview's first fire, as an instant.
    first = datetime.fromisoformat(previewed.json()["next_fire_times"][0])
    assert datetime.fromisoformat(got["next_run_time"].replace("Z", "+00:00")) == first


async def test_next_run_time_follows_the_either_rule(client):
    schedule_id = await create(client, body("0 0 13 * 5"))
    got = (await client.get(f"{URL}/{schedule_id}", headers=ADMIN)).json()
    next_run = datetime.fromisoformat(got["next_run_time"].replace("Z", "+00:00"))
    expected = cron_trigger({"cron": "0 0 13 * 5"}).next_fire(datetime.now(UTC))
    assert next_run == expected
    assert next_run.day == 13 or next_run.weekday() == 4
    # Within a week: every Friday fires, not only a Friday the 13th.
    assert (next_run - datetime.now(UTC)).days < 7


# ------------------------------------- schedules whose meaning the day rule changed


async def test_the_migration_flags_respells_and_logs(client, caplog):
    from piccolo_migrations.luna_admin_2026_12_03t0501_cron_rules import upgrade_triggers

    legacy = [
        ("0 0 1 * 1", "utc", "running"),  # both restricted: its meaning changes
        ("0 9 */2 * 1", "utc", "running"),  # starts with *: it does not
        ("\uff13\uff10 2 * * *", "right/Europe/Berlin", "running"),
        ("0 0 1-7 * 1", "posix/America/New_York", "paused"),
        ("0 0 last * *", "utc", "running"),  # APScheduler took it; crontab(5) does not
        ("5 4 * * *", "localtime", "running"),
    ]
    ids = []
    for cron, zone, status in legacy:
        row = await db.fetchrow(
            "INSERT INTO task_schedule (task_type, task, trigger, status, next_run_time) "
            "VALUES (4, $1::jsonb, $2::jsonb, $3, now() - interval '1 day') "
            "RETURNING schedule_id",
            json.dumps(GC_TASK),
            json.dumps({"cron": cron, "cron_timezone": zone}),
            status,
        )
        assert row is not None
        ids.append(row["schedule_id"])
    with caplog.at_level(logging.INFO):
        async with db.connection() as conn, conn.transaction():
            line = await upgrade_triggers(conn)
    assert line in caplog.text
    assert "6 checked; 2 now run on a day matching either day field" in line
    assert f"#{ids[0]} '0 0 1 * 1'" in line and f"#{ids[3]} '0 0 1-7 * 1'" in line
    assert f"#{ids[1]} " not in line.split("triggers respelled")[0]
    assert "3 triggers respelled" in line
    assert f"1 refused by the new rules, not fired until replaced: #{ids[4]}" in line
    rows = {
        row["schedule_id"]: row
        for row in await db.fetch(
            "SELECT schedule_id, trigger, day_rule_changed, next_run_time FROM task_schedule"
        )
    }
    assert [rows[i]["day_rule_changed"] for i in ids] == [True, False, False, True, False, False]
    triggers = [json.loads(rows[i]["trigger"]) for i in ids]
    assert triggers[2] == {"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"}
    assert triggers[3]["cron_timezone"] == "America/New_York"
    assert triggers[4]["cron"] == "0 0 last * *"  # left as it was
    assert triggers[5]["cron_timezone"] == "local"
    # next_run_time computed again under the new rules (paused: none).
    assert rows[ids[0]]["next_run_time"] > datetime.now(UTC)
    assert rows[ids[3]]["next_run_time"] is None


def row_notes(html: str) -> dict[int, str]:
    """The note of each row of the schedules table ("" for none)."""
    notes = {}
    for row in html.split('data-testid="schedule-row"')[1:]:
        sid = re.search(r'data-schedule-id="(\d+)"', row)
        assert sid is not None
        note = re.search(r'data-testid="schedule-row-note">([^<]*)<', row.split("</tr>")[0])
        notes[int(sid.group(1))] = note.group(1) if note else ""
    return notes


async def flagged_schedule(client, cron: str = "0 0 1 * 1") -> int:  # type: ignore[no-untyped-def]
    schedule_id = await create(client, body(cron))
    await db.fetch(
        "UPDATE task_schedule SET day_rule_changed = true WHERE schedule_id = $1", schedule_id
    )
    return schedule_id


async def test_the_schedules_page_lists_them_with_a_note(client):
    await signed_in(client)
    flagged = await flagged_schedule(client)
    plain = await create(client, body("0 0 1 * 1"))  # stored under the new rules: no note
    invalid = await create(client, body("5 4 * * *"))
    await db.fetch(
        'UPDATE task_schedule SET trigger = \'{"cron": "0 0 last * *", '
        '"cron_timezone": "utc"}\'::jsonb WHERE schedule_id = $1',
        invalid,
    )
    page = await client.get("/tasks/schedules", headers=HTML)
    assert page.status_code == 200
    found = re.search(r'data-testid="day-rule-notice"[^>]*>(.*?)</section>', page.text, re.S)
    assert found is not None
    notice = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1)))
    assert "1 schedule now runs on more days" in notice and f"#{flagged}" in notice
    assert f"#{plain}" not in notice
    notes = row_notes(page.text)
    assert "a day matching either one runs it" in notes[flagged]
    assert notes[plain] == ""
    assert "not valid under the crontab(5) rules" in notes[invalid].lower()
    assert "it does not run until edited" in notes[invalid]
    detail = await client.get(f"/tasks/schedules/{flagged}", headers=HTML)
    assert "a day matching either one runs it" in text_of(detail.text, "schedule-note")


async def test_replacing_a_flagged_schedule_removes_its_note(client):
    await signed_in(client)
    flagged = await flagged_schedule(client)
    replaced = await client.put(f"{URL}/{flagged}", json=body("0 0 1 * 1"), headers=ADMIN)
    assert replaced.status_code == 200
    page = await client.get("/tasks/schedules", headers=HTML)
    assert 'data-testid="day-rule-notice"' not in page.text
    assert 'data-testid="schedule-row-note"' not in page.text
    # A pause is no replace: the note stays on another flagged schedule.
    other = await flagged_schedule(client)
    await client.patch(f"{URL}/{other}", params={"action": "pause"}, headers=ADMIN)
    assert (
        'data-testid="day-rule-notice"' in (await client.get("/tasks/schedules", headers=HTML)).text
    )


async def test_the_openapi_document_describes_the_preview(client):
    from tests.integration.test_openapi import answer_schema, served

    document = await served(client)
    operation = document["paths"]["/4/tasks/schedules/preview"]["get"]
    params = {p["name"]: p for p in operation["parameters"] if "name" in p}
    assert params["count"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 5,
    }
    assert "ISO 8601" in params["start"]["description"]
    assert "zone's clock" in params["start"]["description"]
    assert params["cron"]["required"] is True
    assert "allowEmptyValue" not in params["cron_timezone"]
    bad = answer_schema(document, "GET", "/4/tasks/schedules/preview", 400)
    assert {12012, 12014, 29340} <= set(bad["allOf"][1]["properties"]["error_code"]["enum"])


async def test_the_form_preview_says_what_is_wrong_with_a_start_typed_by_hand(client):
    await signed_in(client)
    shown = await client.get(
        "/tasks/schedules/preview",
        params={"trigger.cron": "0 0 * * *", "_preview_start": "2026-13-01T00:00"},
        headers={**HTML, "HX-Request": "true"},
    )
    assert shown.status_code == 200
    assert "enter a date and time of the years 1900-9998" in text_of(
        shown.text, "cron-preview-error"
    )
