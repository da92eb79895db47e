"""Fire times of schedule triggers (webapp.schedules.triggers), computed with a
controlled clock (the `now` handed to the trigger), around the clock changes of
2026: the examples of ROUTES.md "Schedules" and of issue 11, one by one. The
property test (test_schedule_crontab_model.py) covers the rest."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.base import BaseTrigger

from webapp.schedules.triggers import cron_trigger, fire_times, missed_fire
from webapp.web.errors import LunaError

CHANGES = [
    ("Europe/Berlin", date(2026, 3, 29)),  # 02:00 -> 03:00
    ("Europe/Berlin", date(2026, 10, 25)),  # 03:00 -> 02:00
    ("America/New_York", date(2026, 3, 8)),  # 02:00 -> 03:00
    ("America/New_York", date(2026, 11, 1)),  # 02:00 -> 01:00
]
# Before, inside and after the hour that is skipped or repeated, and midnight.
DAILY = ["0 0 * * *", "30 1 * * *", "0 2 * * *", "30 2 * * *", "0 3 * * *", "59 23 * * *"]


def local_days(zone: ZoneInfo, around: date, days: int = 3) -> tuple[datetime, datetime]:
    start = datetime.combine(around - timedelta(days=days), datetime.min.time(), zone)
    end = datetime.combine(around + timedelta(days=days + 1), datetime.min.time(), zone)
    return start, end


@pytest.mark.parametrize("cron", DAILY)
@pytest.mark.parametrize(("zone_name", "change"), CHANGES)
def test_a_daily_schedule_fires_once_per_local_day(zone_name, change, cron):
    zone = ZoneInfo(zone_name)
    start, end = local_days(zone, change)
    fires = list(fire_times(cron_trigger({"cron": cron, "cron_timezone": zone_name}), start, end))
    per_day = Counter(fire.astimezone(zone).date() for fire in fires)
    assert per_day == {change + timedelta(days=n): 1 for n in range(-3, 4)}
    assert fires == sorted(fires)


@pytest.mark.parametrize(("zone_name", "change"), CHANGES)
def test_every_moment_of_the_change_day_sees_the_right_next_fire(zone_name, change):
    """Asked at any minute of the day (as a restarted leader would be), the next
    fire is the next in the day-by-day sequence: none skipped, none repeated."""
    zone = ZoneInfo(zone_name)
    for cron in DAILY:
        trigger = cron_trigger({"cron": cron, "cron_timezone": zone_name})
        start, end = local_days(zone, change, days=1)
        fires = list(fire_times(trigger, start, end + timedelta(days=1)))
        now = start.astimezone(UTC)
        while now < end:
            expected = next(fire for fire in fires if fire >= now)
            assert trigger.get_next_fire_time(None, now) == expected, (cron, now)
            now += timedelta(minutes=7)


def on_clock(cron: str, zone_name: str, start: datetime, end: datetime) -> list[str]:
    """The fires from start to end, as ISO times on the zone's clock."""
    zone = ZoneInfo(zone_name)
    trigger = cron_trigger({"cron": cron, "cron_timezone": zone_name})
    return [fire.astimezone(zone).isoformat() for fire in fire_times(trigger, start, end)]


def local_day(zone_name: str, day: date) -> tuple[datetime, datetime]:
    return local_days(ZoneInfo(zone_name), day, days=0)


def test_the_time_of_a_missing_hour_fires_right_after_the_jump():
    """cronie runs a fixed-time job whose minute the spring change skips at once
    after the jump (03:00), not the length of the jump later (03:30)."""
    zone = ZoneInfo("Europe/Berlin")
    trigger = cron_trigger({"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"})
    fire = trigger.get_next_fire_time(None, datetime(2026, 3, 29, tzinfo=zone))
    assert fire is not None
    assert fire.astimezone(zone).isoformat() == "2026-03-29T03:00:00+02:00"


def test_two_times_with_one_skipped_still_fire_twice():
    assert on_clock(
        "30 2,3 * * *", "Europe/Berlin", *local_day("Europe/Berlin", date(2026, 3, 29))
    ) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_every_skipped_minute_of_a_fixed_job_runs_once_after_the_jump():
    # 02:00 to 02:59 every five minutes is "fixed-time" (neither field starts with *).
    assert on_clock(
        "0-59/5 2 * * *", "Europe/Berlin", *local_day("Europe/Berlin", date(2026, 3, 29))
    ) == ["2026-03-29T03:00:00+02:00"]


def test_a_job_whose_minute_starts_with_a_star_follows_the_clock():
    spring = on_clock(
        "*/15 2 * * *", "Europe/Berlin", *local_day("Europe/Berlin", date(2026, 3, 29))
    )
    assert spring == []  # the clock never reads 02:xx that day
    autumn = on_clock(
        "*/15 2 * * *", "Europe/Berlin", *local_day("Europe/Berlin", date(2026, 10, 25))
    )
    assert autumn == [f"2026-10-25T02:{m:02d}:00+02:00" for m in (0, 15, 30, 45)] + [
        f"2026-10-25T02:{m:02d}:00+01:00" for m in (0, 15, 30, 45)
    ]


def test_a_job_whose_hour_starts_with_a_star_fires_twice_in_the_repeated_hour():
    fires = on_clock(
        "0 */2 * * *", "Europe/Berlin", *local_day("Europe/Berlin", date(2026, 10, 25))
    )
    assert fires[:3] == [
        "2026-10-25T00:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    assert len(fires) == 13


@pytest.mark.parametrize(
    ("cron", "zone_name", "monday", "first"),
    [
        # Issue 11: the first hour(s) of the first matching day after a spring change.
        ("0 * * * 1", "Europe/Berlin", date(2026, 3, 30), "2026-03-30T00:00:00+02:00"),
        ("*/10 * * * 1-5", "America/New_York", date(2026, 3, 9), "2026-03-09T00:00:00-04:00"),
        ("0 * * * 1", "Antarctica/Troll", date(2026, 3, 30), "2026-03-30T00:00:00+02:00"),
    ],
)
def test_the_first_day_after_a_spring_change_keeps_its_first_hours(cron, zone_name, monday, first):
    zone = ZoneInfo(zone_name)
    # Asked on the Sunday of the change, as a leader would be after the last Sunday fire.
    trigger = cron_trigger({"cron": cron, "cron_timezone": zone_name})
    sunday_noon = datetime.combine(monday - timedelta(days=1), datetime.min.time(), zone).replace(
        hour=12
    )
    fire = trigger.get_next_fire_time(None, sunday_noon)
    assert fire is not None and fire.astimezone(zone).isoformat() == first
    day = on_clock(cron, zone_name, *local_day(zone_name, monday))
    assert day[0] == first
    assert len(day) == (24 if cron.startswith("0 ") else 144)


def test_a_half_hour_jump_lord_howe():
    """Australia/Lord_Howe moves by 30 minutes: 02:00 -> 02:30 on 4 October 2026."""
    day = local_day("Australia/Lord_Howe", date(2026, 10, 4))
    assert on_clock("15 2 * * *", "Australia/Lord_Howe", *day) == ["2026-10-04T02:30:00+11:00"]
    assert on_clock("45 2 * * *", "Australia/Lord_Howe", *day) == ["2026-10-04T02:45:00+11:00"]
    assert on_clock("*/15 2 * * *", "Australia/Lord_Howe", *day) == [
        "2026-10-04T02:30:00+11:00",
        "2026-10-04T02:45:00+11:00",
    ]


def test_a_two_hour_jump_troll():
    """Antarctica/Troll moves by two hours: 01:00 -> 03:00, and back 03:00 -> 01:00."""
    spring = local_day("Antarctica/Troll", date(2026, 3, 29))
    assert on_clock("15 1,2 * * *", "Antarctica/Troll", *spring) == ["2026-03-29T03:00:00+02:00"]
    autumn = local_day("Antarctica/Troll", date(2026, 10, 25))
    assert on_clock("30 1,2 * * *", "Antarctica/Troll", *autumn) == [
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
    ]
    assert len(on_clock("30 * * * *", "Antarctica/Troll", *autumn)) == 26


def test_both_restricted_day_fields_fire_on_either():
    trigger = cron_trigger({"cron": "0 0 1 * 1"})
    fires = list(
        fire_times(trigger, datetime(2026, 11, 28, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    )
    assert [f.date().isoformat() for f in fires] == [
        "2026-11-30",  # a Monday
        "2026-12-01",  # the 1st, a Tuesday
        "2026-12-07",
        "2026-12-14",
        "2026-12-21",
        "2026-12-28",
    ]


def test_a_day_field_starting_with_a_star_needs_both():
    """`*/2` starts with `*`: odd days of the month that are Mondays (as cronie)."""
    trigger = cron_trigger({"cron": "0 9 */2 * 1"})
    fires = list(
        fire_times(trigger, datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    )
    assert [f.date().isoformat() for f in fires] == [
        "2026-11-09",
        "2026-11-23",
        "2026-12-07",
        "2026-12-21",
    ]


def test_a_rare_cron_fires_far_ahead():
    trigger = cron_trigger({"cron": "0 0 29 2 *", "cron_timezone": "Europe/Berlin"})
    fires = list(
        fire_times(trigger, datetime(2026, 1, 1, tzinfo=UTC), datetime(2110, 1, 1, tzinfo=UTC))
    )
    assert len(fires) == 20  # 2028 ... 2096 (2100 is no leap year), 2104, 2108
    assert fires[-3].year == 2096 and fires[-2].year == 2104


def test_it_is_an_apscheduler_trigger_answering_in_utc():
    trigger = cron_trigger({"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"})
    assert isinstance(trigger, BaseTrigger)
    previous = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    fire = trigger.get_next_fire_time(previous, previous + timedelta(hours=2))
    # Not 02:30 CET (an hour after the first, the same on the clock): the next day's.
    assert fire == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    assert fire.tzinfo is UTC


def test_a_repeated_time_fires_at_its_first_occurrence():
    zone = ZoneInfo("America/New_York")
    trigger = cron_trigger({"cron": "30 1 * * *", "cron_timezone": "America/New_York"})
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 1, tzinfo=zone))
    assert fire is not None
    assert fire.astimezone(UTC).isoformat() == "2026-11-01T05:30:00+00:00"  # 01:30 EDT


def test_an_hourly_schedule_follows_real_hours():
    zone = ZoneInfo("Europe/Berlin")
    trigger = cron_trigger({"cron": "30 * * * *", "cron_timezone": "Europe/Berlin"})
    for day, hours in ((date(2026, 3, 29), 23), (date(2026, 10, 25), 25)):
        start = datetime.combine(day, datetime.min.time(), zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        assert len(list(fire_times(trigger, start, end))) == hours


@pytest.mark.parametrize("name", ["utc", "UTC", "Utc", "uTc"])
def test_utc_in_any_case(name):
    assert cron_trigger({"cron": "5 4 * * *", "cron_timezone": name}).timezone == UTC


def test_local_and_iana_zones():
    assert cron_trigger({"cron": "5 4 * * *", "cron_timezone": "local"}) is not None
    assert cron_trigger({"cron": "5 4 * * *"}).timezone == UTC
    assert (
        str(cron_trigger({"cron": "5 4 * * *", "cron_timezone": "Etc/UTC"}).timezone) == "Etc/UTC"
    )


@pytest.mark.parametrize(
    ("trigger", "path"),
    [
        ({"cron": "5 4 * *"}, "trigger.cron"),
        ({"cron": "61 4 * * *"}, "trigger.cron"),
        ({"cron": "a b c d e"}, "trigger.cron"),
        ({"cron": "0 0 31 2 *"}, "trigger.cron"),
        ({"cron": "\uff10 \uff10 * * *"}, "trigger.cron"),  # full-width digits
        ({"cron": "5 4 * * *", "cron_timezone": "Mars/Olympus"}, "trigger.cron_timezone"),
        ({"cron": "5 4 * * *", "cron_timezone": "../../etc/passwd"}, "trigger.cron_timezone"),
        ({"cron": "5 4 * * *", "cron_timezone": ""}, "trigger.cron_timezone"),
        ({"cron": "5 4 * * *", "cron_timezone": "right/Europe/Berlin"}, "trigger.cron_timezone"),
        ({"cron": "5 4 * * *", "cron_timezone": "posix/Europe/Berlin"}, "trigger.cron_timezone"),
        ({"cron": "5 4 * * *", "cron_timezone": "posixrules"}, "trigger.cron_timezone"),
        ({"cron": "5 4 * * *", "cron_timezone": "localtime"}, "trigger.cron_timezone"),
        ({"cron": "5 4 * * *", "cron_timezone": "europe/berlin"}, "trigger.cron_timezone"),
    ],
)
def test_bad_triggers_name_the_field(trigger, path):
    with pytest.raises(LunaError) as caught:
        cron_trigger(trigger)
    assert caught.value.kind.code == 12022
    assert caught.value.params["path"] == path


def test_after_downtime_one_catch_up_for_the_first_missed_time():
    trigger = cron_trigger({"cron": "0 * * * *", "cron_timezone": "utc"})
    last = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    # Down from 10:20 to 15:10: 11:00 was the first of five missed fires.
    assert missed_fire(trigger, last, datetime(2026, 5, 1, 15, 10, tzinfo=UTC)) == datetime(
        2026, 5, 1, 11, 0, tzinfo=UTC
    )
    assert missed_fire(trigger, last, datetime(2026, 5, 1, 10, 59, tzinfo=UTC)) is None


def test_a_change_just_before_a_fire_does_not_lose_it():
    """Changed at 12:00:59.5, synced by the leader at 12:01:00.2: 12:01 is due."""
    trigger = cron_trigger({"cron": "* * * * *", "cron_timezone": "utc"})
    changed = datetime(2026, 5, 1, 12, 0, 59, 500_000, tzinfo=UTC)
    synced = datetime(2026, 5, 1, 12, 1, 0, 200_000, tzinfo=UTC)
    assert missed_fire(trigger, changed, synced) == datetime(2026, 5, 1, 12, 1, tzinfo=UTC)
    # A fire at exactly 12:01 as the baseline: nothing is missed before 12:02.
    fired = datetime(2026, 5, 1, 12, 1, tzinfo=UTC)
    assert missed_fire(trigger, fired, synced) is None
