"""The schedule pages in Chromium: create a schedule in the form while its next
runs are previewed live, see them on its page, pause it; run now; delete it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, BrowserContext, Dialog, Page, expect

from e2e.pages import ScheduleFormPage, SchedulePage, SchedulesPage, overflow, shot

WEEKDAY_RUN = re.compile(r"^(Mon|Tue|Wed|Thu|Fri) \d{4}-\d\d-\d\d 02:30 (EST|EDT)$")


def schedule_id_of(page: Page) -> int:
    match = re.search(r"/tasks/schedules/(\d+)$", page.url)
    assert match is not None, page.url
    return int(match.group(1))


def test_create_a_schedule_see_its_next_runs_and_pause_it(
    signed_in: Page, api: APIRequestContext
) -> None:
    page = signed_in
    form = ScheduleFormPage(page).open_new()
    # The preview follows what is typed, in the chosen zone.
    form.cron.fill("30 2 * * 1-5")
    form.timezone.fill("America/New_York")
    expect(form.words).to_have_text("At 02:30, Monday through Friday")
    expect(form.next_runs).to_have_count(5)
    for index in range(5):
        expect(form.next_runs.nth(index)).to_have_text(WEEKDAY_RUN)
    form.cron.fill("30 2 * *")
    expect(form.preview_error).to_contain_text("must have five fields")
    form.cron.fill("30 2 * * 1-5")
    expect(form.words).to_have_text("At 02:30, Monday through Friday")
    form.descriptor_version.fill("56")
    form.description.fill("weekday cleanup")
    form.save.click()

    schedule = SchedulePage(page)
    expect(schedule.flash).to_contain_text("created")
    sid = schedule_id_of(page)
    expect(schedule.status).to_have_text("running")
    expect(schedule.words).to_have_text("At 02:30, Monday through Friday")
    expect(schedule.next_run).to_have_text(WEEKDAY_RUN)
    stored = api.get(f"tasks/schedules/{sid}").json()
    assert stored["trigger"] == {"cron": "30 2 * * 1-5", "cron_timezone": "America/New_York"}
    assert stored["task"]["content"]["filters"] == {"descriptor_version": 56}

    questions: list[str] = []

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    schedule.pause_button.click()
    expect(schedule.status).to_have_text("paused")
    expect(schedule.next_run).to_contain_text("paused")
    expect(schedule.start_button).to_be_visible()
    assert questions and questions[0].startswith(f"Pause schedule {sid}?")
    assert api.get(f"tasks/schedules/{sid}").json()["status"] == "paused"

    listing = SchedulesPage(page).open()
    expect(listing.row(sid)).to_contain_text("paused")
    expect(listing.row(sid)).to_contain_text("Monday through Friday")
    shot(page, "schedules")


def test_preview_the_runs_around_a_clock_change(signed_in: Page, api: APIRequestContext) -> None:
    """The form's preview from a chosen date: Europe/Berlin's spring and autumn changes
    of 2026, as crontab(5) runs a job across them. Nothing is stored."""
    page = signed_in
    stored = len(api.get("tasks/schedules", params={"page_size": 1000}).json())
    form = ScheduleFormPage(page).open_new()
    form.timezone.fill("Europe/Berlin")
    form.cron.fill("30 2 * * *")
    form.preview_start.fill("2026-03-28T12:00")
    expect(form.next_runs.nth(0)).to_have_text("Sun 2026-03-29 03:00 CEST")  # right after the jump
    expect(form.next_runs.nth(1)).to_have_text("Mon 2026-03-30 02:30 CEST")
    expect(form.page.get_by_test_id("cron-preview")).to_contain_text("Runs after 2026-03-28 12:00")
    # A job whose minute starts with * follows the clock: twice in the repeated hour.
    form.cron.fill("*/30 2 * * *")
    form.preview_start.fill("2026-10-25T00:00")
    expect(form.words).to_have_text("Every 30 minutes, between 02:00 and 02:59")
    expect(form.next_runs).to_have_text(
        [
            "Sun 2026-10-25 02:00 CEST",
            "Sun 2026-10-25 02:30 CEST",
            "Sun 2026-10-25 02:00 CET",
            "Sun 2026-10-25 02:30 CET",
            "Mon 2026-10-26 02:00 CET",
        ]
    )
    # Both day fields restricted: either one.
    form.cron.fill("0 0 1 * 1")
    expect(form.words).to_have_text("At 00:00, on day 1 of the month and on every Monday")
    form.timezone.fill("right/Europe/Berlin")
    expect(form.preview_error).to_contain_text("use the IANA name 'Europe/Berlin'")
    assert len(api.get("tasks/schedules", params={"page_size": 1000}).json()) == stored


def test_run_now_then_delete(signed_in: Page, api: APIRequestContext) -> None:
    page = signed_in
    answer = api.post(
        "tasks/schedules",
        data={
            "task": {
                "task_type": 4,
                "content": {"target": "face_descriptors", "filters": {"descriptor_version": 998}},
            },
            "trigger": {"cron": "0 3 * * *"},
        },
    )
    assert answer.status == 201, answer.text()
    sid = int(answer.json()["schedule_id"])
    page.on("dialog", lambda dialog: dialog.accept())
    schedule = SchedulePage(page).open(sid)
    expect(schedule.fires).to_have_count(0)
    schedule.run_button.click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    expect(page.get_by_test_id("flash")).to_contain_text(f"started by schedule {sid}")
    task_id = int(page.url.rsplit("/", 1)[1])

    schedule.open(sid)
    expect(schedule.fires).to_have_count(1)
    expect(schedule.fires.first).to_contain_text(f"#{task_id}")
    schedule.delete_confirm.fill(str(sid))
    schedule.delete_button.click()
    expect(page).to_have_url(re.compile(r"/tasks/schedules$"))
    expect(SchedulesPage(page).row(sid)).to_have_count(0)
    assert api.get(f"tasks/{task_id}").status == 200  # its task stays


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_schedule_pages_fit_the_screen(
    width: int,
    height: int,
    new_context: Callable[..., BrowserContext],
    session_cookies: Callable[[], list[Any]],
    api: APIRequestContext,
    base_url: str,
) -> None:
    answer = api.post(
        "tasks/schedules",
        data={
            "task": {
                "task_type": 4,
                "content": {"target": "face_descriptors", "filters": {"descriptor_version": 997}},
                "description": "A long description, as operators write them: ticket 2026-0042.",
            },
            "trigger": {"cron": "15 1 * * sun", "cron_timezone": "Europe/Berlin"},
        },
    )
    sid = int(answer.json()["schedule_id"])
    context = new_context(viewport={"width": width, "height": height})
    context.add_cookies(session_cookies())
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path, name in (
        ("/tasks/schedules", "schedules"),
        (f"/tasks/schedules/{sid}", "schedule"),
        (f"/tasks/schedules/{sid}/edit", "schedule-edit"),
    ):
        page.goto(path)
        expect(page.locator("main")).to_be_visible()
        assert overflow(page) <= 0, f"{path} is {overflow(page)}px too wide at {width}"
        shot(page, f"{name}-{width}")
    elsewhere = [url for url in requested if not url.startswith(base_url + "/")]
    assert not elsewhere, f"requests to other hosts: {elsewhere}"
