"""Fire times of schedule triggers, computed with a controlled clock (the `now`
handed to the trigger), around the daylight-saving changes of 2026."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

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


def test_the_time_of_a_missing_hour_fires_after_the_jump():
    zone = ZoneInfo("Europe/Berlin")
    trigger = cron_trigger({"cron": "30 2 * * *", "cron_timezone": "Europe/Berlin"})
    start = datetime(2026, 3, 29, tzinfo=zone)
    fire = trigger.get_next_fire_time(None, start)
    assert fire is not None
    assert fire.astimezone(zone).isoformat() == "2026-03-29T03:30:00+02:00"


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


def test_utc_and_local_zones():
    assert cron_trigger({"cron": "5 4 * * *", "cron_timezone": "utc"}).timezone == UTC
    assert cron_trigger({"cron": "5 4 * * *", "cron_timezone": "local"}) is not None
    assert cron_trigger({"cron": "5 4 * * *"}).timezone == UTC


@pytest.mark.parametrize(
    ("trigger", "path"),
    [
        ({"cron": "5 4 * *"}, "trigger.cron"),
        ({"cron": "61 4 * * *"}, "trigger.cron"),
        ({"cron": "a b c d e"}, "trigger.cron"),
        ({"cron": "0 0 31 2 *"}, "trigger.cron"),
        ({"cron": "5 4 * * *", "cron_timezone": "Mars/Olympus"}, "trigger.cron_timezone"),
        ({"cron": "5 4 * * *", "cron_timezone": "../../etc/passwd"}, "trigger.cron_timezone"),
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


def test_the_quick_path_agrees_with_the_careful_walk(monkeypatch):
    """Away from clock changes the next fire time takes a quick path; it must give
    what the walk that handles the changes gives, at any moment of the year."""
    import random

    from webapp.schedules import triggers

    rng = random.Random(5010)
    zones = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Tokyo", "utc"]
    cases = []
    for _ in range(400):
        cron = f"{rng.randrange(60)} {rng.randrange(24)} * * {rng.choice(['*', '1-5', '0'])}"
        trigger = cron_trigger({"cron": cron, "cron_timezone": rng.choice(zones)})
        now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400))
        cases.append((trigger, now, trigger.get_next_fire_time(None, now)))
    monkeypatch.setattr(triggers, "_steady", lambda zone, moment: False)
    for trigger, now, quick in cases:
        assert trigger.get_next_fire_time(None, now) == quick, (trigger, now)
