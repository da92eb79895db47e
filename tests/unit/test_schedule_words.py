"""Cron's day-of-week numbers (0 and 7 are Sunday), the cron in words, and the
preview of the next fire times the schedule form shows."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from webapp.schedules.triggers import cron_trigger, cron_weekdays, fire_times
from webapp.schedules.words import describe, preview
from webapp.web.errors import LunaError
from webapp.web.templates import zone_time

SATURDAY = datetime(2026, 11, 28, 12, tzinfo=UTC)


def weekdays(cron: str, count: int = 14) -> list[str]:
    times = fire_times(cron_trigger({"cron": cron}), SATURDAY)
    return [next(times).strftime("%a") for _ in range(count)]


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0", {"Sun"}),
        ("7", {"Sun"}),
        ("5-7", {"Fri", "Sat", "Sun"}),
        ("*/2", {"Sun", "Tue", "Thu", "Sat"}),
        ("mon,wed", {"Mon", "Wed"}),
        ("SAT-SUN", {"Sat", "Sun"}),
        ("1,3-4", {"Mon", "Wed", "Thu"}),
    ],
)
def test_weekdays_are_read_as_cron_reads_them(field, days):
    """APScheduler's from_crontab alone would take 1-5 as Tuesday to Saturday."""
    assert set(weekdays(f"0 2 * * {field}")) == days


@pytest.mark.parametrize("field", ["8", "5-1", "mon#2", "*/0", "x"])
def test_wrong_weekdays_are_refused_with_the_reason(field):
    with pytest.raises(ValueError, match="day of week"):
        cron_weekdays(field)
    with pytest.raises(LunaError) as caught:
        cron_trigger({"cron": f"0 2 * * {field}"})
    assert caught.value.params["path"] == "trigger.cron"


def test_the_wildcard_stays_a_wildcard():
    assert cron_weekdays("*") == "*"
    assert len(set(weekdays("0 2 * * *", 7))) == 7


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("5 4 * * *", "At 04:05"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 2 * * 1-5", "At 02:00, Monday through Friday"),
        ("0 0 * * 7", "At 00:00, only on Sunday"),
        # Both day fields restricted: a day must match both (APScheduler), not either.
        ("0 0 1 * 1", "At 00:00, on day 1 of the month, and only on Monday"),
    ],
)
def test_cron_in_words(cron, words):
    assert describe(cron) == words


def test_both_day_fields_restricted_need_both():
    times = list(
        fire_times(cron_trigger({"cron": "0 0 1 * 1"}), SATURDAY, datetime(2028, 1, 1, tzinfo=UTC))
    )
    assert times and all(t.day == 1 and t.weekday() == 0 for t in times)


def test_preview_lists_the_next_runs_on_the_zones_clock():
    shown = preview({"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"}, 5, SATURDAY)
    assert shown["description"] == "At 02:30"
    assert shown["next_fire_times"] == [f"2026-11-{day}T02:30:00+01:00" for day in (29, 30)] + [
        f"2026-12-0{day}T02:30:00+01:00" for day in (1, 2, 3)
    ]


def test_preview_across_the_spring_change_shows_the_shifted_run():
    before = datetime(2026, 3, 27, tzinfo=ZoneInfo("Europe/Berlin"))
    shown = preview({"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"}, 3, before)
    # 02:30 does not exist on 29 March: it runs at 03:30 CEST, once.
    assert shown["next_fire_times"] == [
        "2026-03-27T02:30:00+01:00",
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_a_time_on_a_schedules_clock():
    assert zone_time("2026-11-30T03:05:00.000Z", "Europe/Berlin") == "Mon 2026-11-30 04:05 CET"
    assert zone_time("2026-07-01T03:05:00.000Z", "America/New_York") == "Tue 2026-06-30 23:05 EDT"
    assert zone_time("2026-07-01T03:05:00.000Z", "Nowhere/Land") == "2026-07-01 03:05:00 UTC"
    assert zone_time(None, "utc") == ""
