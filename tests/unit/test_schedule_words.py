"""Cron's day-of-week numbers (0 and 7 are Sunday), the cron in words, and the
preview of the fire times the schedule form and the preview route show.

The words must say what fires: each case of issue 11 and its neighbours, and a
check that the days the words name are the days that fire."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from webapp.schedules.triggers import cron_trigger, fire_times
from webapp.schedules.words import describe, preview
from webapp.web.errors import LunaError
from webapp.web.templates import zone_time

SATURDAY = datetime(2026, 11, 28, 12, tzinfo=UTC)
NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def weekdays(cron: str, count: int = 14) -> list[str]:
    times = fire_times(cron_trigger({"cron": cron}), SATURDAY)
    return [next(times).strftime("%a") for _ in range(count)]


def fired_days(cron: str, days: int = 62) -> list[date]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    fires = fire_times(cron_trigger({"cron": cron}), start, start + timedelta(days=days))
    return sorted({fire.date() for fire in fires})


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0", {"Sun"}),
        ("7", {"Sun"}),
        ("5-7", {"Fri", "Sat", "Sun"}),
        ("5-0", {"Fri", "Sat", "Sun"}),
        ("fri-sun", {"Fri", "Sat", "Sun"}),
        ("*/2", {"Sun", "Tue", "Thu", "Sat"}),
        ("1/2", {"Mon", "Wed", "Fri", "Sun"}),
        ("1-7/2", {"Mon", "Wed", "Fri", "Sun"}),
        ("*/3", {"Sun", "Wed", "Sat"}),
        ("mon,wed", {"Mon", "Wed"}),
        ("SAT-SUN", {"Sat", "Sun"}),
        ("1,3-4", {"Mon", "Wed", "Thu"}),
        ("0-7", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
        ("0,7", {"Sun"}),
    ],
)
def test_weekdays_are_read_as_cron_reads_them(field, days):
    """APScheduler's from_crontab alone would take 1-5 as Tuesday to Saturday."""
    assert set(weekdays(f"0 2 * * {field}")) == days


@pytest.mark.parametrize("field", ["8", "5-1", "mon#2", "*/0", "x", "mon-sun/2"])
def test_wrong_weekdays_are_refused_with_the_reason(field):
    with pytest.raises(LunaError) as caught:
        cron_trigger({"cron": f"0 2 * * {field}"})
    assert caught.value.params["path"] == "trigger.cron"
    assert "day of week" in caught.value.params["message"]


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("5 4 * * *", "At 04:05"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 2 * * 1-5", "At 02:00, Monday through Friday"),
        ("0 0 * * 7", "At 00:00, only on Sunday"),
        # Issue 11, each case and its neighbours.
        ("0 0 * * 0-7", "At 00:00"),  # every day, not "Sunday through Sunday"
        ("0 0 * * 0-6", "At 00:00"),
        ("0 0 * * 1-7", "At 00:00"),
        ("0 0 * * 0,7", "At 00:00, only on Sunday"),  # not "Sunday and Sunday"
        ("0 0 * * 6,7", "At 00:00, only on Saturday and Sunday"),
        ("0 0 * * 1/2", "At 00:00, only on Monday, Wednesday, Friday, and Sunday"),
        ("0 0 * * */2", "At 00:00, only on Tuesday, Thursday, Saturday, and Sunday"),
        ("0 0 * * 0/2", "At 00:00, only on Tuesday, Thursday, Saturday, and Sunday"),
        ("0 0 * * */3", "At 00:00, only on Wednesday, Saturday, and Sunday"),
        ("0 9 */2 * 1", "At 09:00, on odd days of the month (1, 3, ..., 31), if it is a Monday"),
        ("0 9 */2 * *", "At 09:00, on odd days of the month (1, 3, ..., 31)"),
        ("0 9 2/2 * *", "At 09:00, on even days of the month (2, 4, ..., 30)"),
        ("0 9 */3 * *", "At 09:00, on days 1, 4, 7, ..., 31 of the month"),
        (
            "0 9 1-31/2 * 1",
            "At 09:00, on odd days of the month (1, 3, ..., 31) and on every Monday",
        ),
        ("0 0 1 * 1", "At 00:00, on day 1 of the month and on every Monday"),
        ("0 0 1,15 * sun", "At 00:00, on days 1 and 15 of the month and on every Sunday"),
        ("0 0 13 * 5", "At 00:00, on day 13 of the month and on every Friday"),
        ("0 0 1 * 0-7", "At 00:00"),  # either field matching: every day
        ("0 0 29 2 1", "At 00:00, on day 29 of the month and on every Monday, only in February"),
        ("0 0 29 2 *", "At 00:00, on day 29 of the month, only in February"),
        ("0 0 ? * MON", "At 00:00, only on Monday"),
        ("0 0 1 * ?", "At 00:00, on day 1 of the month"),
        # Steps on ranges: what fires, not what was typed.
        ("20-23/4 * * * *", "At 20 minutes past the hour"),
        ("0 20-23/4 * * *", "At 20:00"),
        ("*/7 * * * *", "Every 7 minutes, minutes 0 through 56 past the hour"),
        ("*/20 1,3 * * *", "Every 20 minutes, during hours 01 and 03"),
        ("*/5 */6 * * *", "Every 5 minutes, during hours 00, 06, 12, and 18"),
        (
            "1-59/2 */2 * * *",
            "Every 2 minutes, minutes 1 through 59 past the hour, during hours 00, 02, ..., 22",
        ),
        ("5 */6 * * *", "At 5 minutes past the hour, every 6 hours"),
        ("5 3,7 * * *", "At 03:05 and 07:05"),
        ("0,30 8 * * *", "Every 30 minutes, between 08:00 and 08:59"),
        ("0,45 8 * * *", "At 0 and 45 minutes past the hour, between 08:00 and 08:59"),
        ("0 0 * 2/3 *", "At 00:00, every 3 months, February through November"),
        ("30 2 * jan-mar mon-fri", "At 02:30, Monday through Friday, January through March"),
    ],
)
def test_cron_in_words(cron, words):
    assert describe(cron) == words


@pytest.mark.parametrize(
    ("cron", "weekdays_said"),
    [
        ("0 0 * * 1/2", {"Monday", "Wednesday", "Friday", "Sunday"}),
        ("0 0 * * */2", {"Tuesday", "Thursday", "Saturday", "Sunday"}),
        ("0 0 * * 0,7", {"Sunday"}),
        ("0 0 * * 6,7", {"Saturday", "Sunday"}),
        ("0 0 * * */3", {"Wednesday", "Saturday", "Sunday"}),
    ],
)
def test_the_weekdays_the_words_name_are_those_that_fire(cron, weekdays_said):
    said = {name for name in NAMES if name in describe(cron)}
    assert said == weekdays_said
    assert {NAMES[day.weekday()] for day in fired_days(cron)} == weekdays_said


def test_either_and_both_as_the_words_say():
    # "on day 1 of the month and on every Monday": every Monday, and every 1st.
    days = fired_days("0 0 1 * 1")
    assert all(day.day == 1 or day.weekday() == 0 for day in days)
    assert {day.day for day in days} >= {1} and sum(day.weekday() == 0 for day in days) >= 8
    # "on odd days of the month, if it is a Monday": both.
    assert all(day.day % 2 == 1 and day.weekday() == 0 for day in fired_days("0 9 */2 * 1"))
    # "At 00:00" for 0-7: every day.
    assert len(fired_days("0 0 * * 0-7", days=14)) == 14


def test_an_invalid_stored_cron_is_shown_as_typed():
    assert describe("0 0 last * *") == "0 0 last * *"


def test_preview_lists_the_next_runs_on_the_zones_clock():
    shown = preview({"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"}, 5, SATURDAY)
    assert shown["description"] == "At 02:30"
    assert shown["next_fire_times"] == [f"2026-11-{day}T02:30:00+01:00" for day in (29, 30)] + [
        f"2026-12-0{day}T02:30:00+01:00" for day in (1, 2, 3)
    ]


def test_preview_across_the_spring_change_shows_the_run_right_after_the_jump():
    before = datetime(2026, 3, 27, tzinfo=ZoneInfo("Europe/Berlin"))
    shown = preview({"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"}, 3, before)
    assert shown["next_fire_times"] == [
        "2026-03-27T02:30:00+01:00",
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
    ]


def test_preview_fires_are_strictly_after_start():
    start = datetime(2026, 3, 27, 1, 30, tzinfo=UTC)  # 02:30 CET, itself a fire
    shown = preview({"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"}, 1, start)
    assert shown["next_fire_times"] == ["2026-03-28T02:30:00+01:00"]


def test_a_start_without_offset_is_on_the_zones_clock():
    naive = datetime(2026, 10, 25, 1, 59)
    shown = preview({"cron": "*/30 2 * * *", "cron_timezone": "Europe/Berlin"}, 5, naive)
    assert shown["next_fire_times"] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-26T02:00:00+01:00",
    ]


def test_a_preview_of_a_hundred_rare_fires():
    shown = preview({"cron": "0 0 29 2 */7", "cron_timezone": "Asia/Kathmandu"}, 100, SATURDAY)
    times = shown["next_fire_times"]
    # 29 February on a Sunday: every 28 years or so, to the end of the calendar.
    assert 10 < len(times) <= 100
    assert all(t.startswith(tuple(f"{y}-02-29" for y in range(2027, 9999))) for t in times)
    assert all(datetime.fromisoformat(t).weekday() == 6 for t in times)


def test_a_time_on_a_schedules_clock():
    assert zone_time("2026-11-30T03:05:00.000Z", "Europe/Berlin") == "Mon 2026-11-30 04:05 CET"
    assert zone_time("2026-07-01T03:05:00.000Z", "America/New_York") == "Tue 2026-06-30 23:05 EDT"
    assert zone_time("2026-07-01T03:05:00.000Z", "Nowhere/Land") == "2026-07-01 03:05:00 UTC"
    assert zone_time(None, "utc") == ""
