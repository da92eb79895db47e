"""Schedule triggers: a five-field cron expression in a time zone.

`cron_timezone` is "utc", "local" (the zone of the server process) or, as an
extension, any IANA zone name such as "Europe/Berlin". Fire times come from
APScheduler 3.11's CronTrigger, corrected around daylight-saving changes (see
`LocalCronTrigger`), with cron's day-of-week numbers (0 and 7 are Sunday; see
`cron_weekdays`). One difference from Vixie cron stays, APScheduler's: when both
the day of the month and the day of the week are restricted, a day must match
both ("0 0 1 * 1": the 1st, when it is a Monday), not either.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from webapp.web.errors import LunaError

MAX_CRON_LENGTH = 128
MAX_ZONE_LENGTH = 64
MAX_SHIFT = timedelta(hours=3)
"""More than any daylight-saving jump (at most two hours anywhere)."""

CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
"""Cron's day-of-week numbers: 0 (and 7) is Sunday."""


class LocalCronTrigger(CronTrigger):
    """CronTrigger that fires a fixed-hour job exactly once per local day across DST.

    APScheduler 3.11's own arithmetic gets both clock changes wrong for such jobs:
    "30 2 * * *" in Europe/Berlin fires twice on the day the clocks go back
    (02:30 CEST, then 02:30 CET), and "0 0 * * *" asked at 00:00:01 on the day
    the clocks go forward skips the next midnight altogether. So the fields are
    matched against the naive local wall clock (a twin trigger in UTC fed wall
    times, which has no DST) and each wall time is placed in the zone once:
    a repeated time (autumn) fires at its first occurrence, a time that does not
    exist (spring, 02:30 when 02:00 jumps to 03:00) fires at the same distance
    after the jump (03:30). Like Vixie cron, jobs whose hour field is "*" follow
    real time instead (an hourly job runs every real hour), which CronTrigger
    itself does right.
    """

    hour_wildcard: bool = False
    wall_trigger: CronTrigger | None = None

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if self.hour_wildcard or self.wall_trigger is None:
            return super().get_next_fire_time(previous_fire_time, now)
        zone = self.timezone
        now_wall = now.astimezone(zone).replace(tzinfo=None)
        if _steady(zone, now):
            # No clock change within MAX_SHIFT of `now`: wall order is time order
            # here, so the next wall time is the answer unless it is itself a
            # repeated or missing one (the leader computes this for every schedule
            # it takes over; the careful walk below costs twice as much).
            found = self.wall_trigger.get_next_fire_time(None, now_wall.replace(tzinfo=UTC))
            if found is None:
                return None
            wall = found.replace(tzinfo=None)
            if _exists_once(zone, wall):
                return wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
        # The wall-to-instant mapping is not monotonic around a jump (02:30 that
        # does not exist fires at 03:30, after 03:00): look from a little before
        # `now` on the wall clock and take the earliest instant not before `now`.
        start = now_wall - MAX_SHIFT
        best: datetime | None = None
        best_wall = now_wall
        while True:
            found = self.wall_trigger.get_next_fire_time(None, start.replace(tzinfo=UTC))
            if found is None:
                return best
            wall = found.replace(tzinfo=None)
            if best is not None and wall > best_wall + MAX_SHIFT:
                return best
            # fold=0: a repeated wall time is its first occurrence; a missing one
            # gets the offset from before the jump, which lands after it.
            fire = wall.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)
            if fire >= now and (best is None or fire < best):
                best, best_wall = fire, wall
            start = wall + timedelta(seconds=1)


def _steady(zone: tzinfo, moment: datetime) -> bool:
    """No change of the zone's UTC offset within MAX_SHIFT either side of `moment`."""
    before = (moment - MAX_SHIFT).astimezone(zone).utcoffset()
    return before == (moment + MAX_SHIFT).astimezone(zone).utcoffset()


def _exists_once(zone: tzinfo, wall: datetime) -> bool:
    """The wall time is neither repeated (autumn) nor skipped (spring) in the zone:
    both readings of it (PEP 495's fold) have the same offset."""
    return (
        wall.replace(tzinfo=zone, fold=0).utcoffset()
        == wall.replace(tzinfo=zone, fold=1).utcoffset()
    )


def bad_trigger(field: str, message: str) -> LunaError:
    return LunaError("JSON_VALIDATION", path=f"trigger.{field}", message=message)


def zone(name: str) -> tzinfo:
    """The zone a `cron_timezone` names; LunaError 12022 (trigger.cron_timezone) if none."""
    lowered = name.lower()
    if lowered == "utc":
        return UTC
    if lowered == "local":
        from tzlocal import get_localzone

        return get_localzone()
    # ZoneInfo also reads paths; a name with these is never an IANA zone.
    if not name or len(name) > MAX_ZONE_LENGTH or name.startswith("/") or ".." in name:
        raise bad_trigger("cron_timezone", f"unknown time zone '{name[:MAX_ZONE_LENGTH]}'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise bad_trigger("cron_timezone", f"unknown time zone '{name}'") from None


def _cron_day(text: str, field: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in CRON_DAYS:
        return CRON_DAYS.index(text)
    raise ValueError(f"day of week '{field}': '{text}' is not 0-7 or sun-sat")


def cron_weekdays(field: str) -> str:
    """A cron day-of-week field as APScheduler reads it, as day names.

    APScheduler 3.x's `from_crontab` takes numbers as its own weekdays (0 is
    Monday), so "0 2 * * 1-5" would run Tuesday to Saturday. Cron's numbers
    (0 and 7 are Sunday, steps counted from Sunday) are expanded here to the
    set of days they mean, written as names, which both read alike.
    """
    lowered = field.lower()
    if lowered in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in lowered.split(","):
        base, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"day of week '{field}': bad step '{step_text}'")
        step = int(step_text) if slash else 1
        if base in ("*", "?"):
            low, high = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            low, high = _cron_day(first, field), _cron_day(last, field)
            high = 7 if high == 0 else high  # "fri-sun", "5-0": up to Sunday
            if low > high:
                raise ValueError(f"day of week '{field}': range '{base}' runs backwards")
        else:
            low = _cron_day(base, field)
            high = 7 if slash else low
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(CRON_DAYS[day] for day in sorted(days))


def cron_trigger(trigger: dict[str, Any], check_fires: bool = True) -> LocalCronTrigger:
    """The APScheduler trigger of a posted or stored trigger; LunaError 12022 if invalid.

    `check_fires` refuses an expression that never fires; a stored trigger passed
    that check when it was stored."""
    expression = str(trigger.get("cron", ""))
    timezone = zone(str(trigger.get("cron_timezone") or "utc"))
    fields = expression.split()
    if len(fields) != 5:
        raise bad_trigger(
            "cron", f"'{expression[:MAX_CRON_LENGTH]}' must have five fields, got {len(fields)}"
        )
    try:
        translated = " ".join([*fields[:4], cron_weekdays(fields[4])])
        built = LocalCronTrigger.from_crontab(translated, timezone=timezone)
    except ValueError as exc:
        raise bad_trigger("cron", f"'{expression}': {exc}") from None
    assert isinstance(built, LocalCronTrigger)
    built.hour_wildcard = fields[1] == "*"
    built.wall_trigger = _wall_trigger(translated)
    if check_fires and built.get_next_fire_time(None, datetime.now(UTC)) is None:
        # Such as "0 0 31 2 *": valid fields, never a date.
        raise bad_trigger("cron", f"'{expression}' never fires")
    return built


@lru_cache(maxsize=4096)
def _wall_trigger(expression: str) -> CronTrigger:
    """The twin trigger that matches wall times; the same for every zone."""
    return CronTrigger.from_crontab(expression, timezone=UTC)


def stored_trigger(trigger: dict[str, Any]) -> LocalCronTrigger:
    """The trigger of a stored schedule, shared by every schedule with the same one
    (APScheduler only asks a trigger for fire times, it never changes it). The
    leader builds 10,000 of these when it takes over, and each fire asks for the
    next fire time: building is most of the cost. LunaError if it is invalid."""
    return _stored_trigger(str(trigger.get("cron", "")), str(trigger.get("cron_timezone") or "utc"))


@lru_cache(maxsize=16384)
def _stored_trigger(cron: str, timezone: str) -> LocalCronTrigger:
    return cron_trigger({"cron": cron, "cron_timezone": timezone}, check_fires=False)


def first_due(trigger: CronTrigger, baseline: datetime | None, now: datetime) -> datetime | None:
    """When a job taken over by a leader runs first: the first fire time after the
    baseline (the last fire, or the last change) if it is already past — downtime,
    one catch-up run — else the next fire time. `missed_fire`'s rule, and the next
    fire time, in one computation."""
    # Just after the baseline, not a whole second after: a change at 12:00:59.5
    # must not lose the 12:01:00 fire when the leader syncs it at 12:01:00.2.
    # (The trigger rounds up to whole seconds, so a fire at exactly 12:01:00 as
    # the baseline still finds 12:02 next.)
    after = now if baseline is None else min(baseline + timedelta(microseconds=1), now)
    return trigger.get_next_fire_time(None, after)


def fire_times(
    trigger: CronTrigger, after: datetime, until: datetime | None = None
) -> Iterator[datetime]:
    """Fire times from `after` (inclusive) on, as the scheduler would compute them."""
    previous: datetime | None = None
    now = after
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or (until is not None and fire >= until):
            return
        yield fire
        previous, now = fire, _after(fire)


def _after(moment: datetime) -> datetime:
    """The next second after `moment`, as an instant (UTC arithmetic, fold-safe)."""
    return moment.astimezone(UTC) + timedelta(seconds=1)


def missed_fire(trigger: CronTrigger, baseline: datetime, now: datetime) -> datetime | None:
    """The first fire time after `baseline` (the last fire, or when the schedule was
    last written) if it is already past: there was downtime, and the leader runs one
    catch-up. None when nothing was missed (then `first_due` is the next fire)."""
    first = first_due(trigger, baseline, now)
    return first if first is not None and first <= now else None
