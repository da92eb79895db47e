"""Schedule triggers: the instants a crontab(5) expression fires in its zone.

APScheduler runs the jobs (webapp.schedules.leader); `CrontabTrigger`, an
APScheduler trigger of the service's own, decides the instants, because
APScheduler's CronTrigger reads the day fields and clock changes otherwise than
cron does. The rules, as cronie applies them when its clock changes (src/cron.c:
it remembers the last wall-clock minute it ran, its "virtual time"):

- a wall-clock minute that exists once fires at that instant;
- a *fixed-time* job (neither the minute nor the hour field starts with `*`)
  whose minute a spring-forward change skips runs once, right after the jump
  (cronie catches up every skipped minute then); in a repeated (fall-back)
  period it runs once, at the first occurrence (cronie does not go back);
- a job that *follows the clock* (its minute or hour field starts with `*`)
  runs whenever the clock reads a matching minute: none in a skipped period,
  twice in a repeated one.

The same holds for a zone that changes its standard offset: what counts is the
change of the UTC offset, not the DST flag. cronie treats a change of more
than three hours as the clock being set, and catches nothing up; no zone has
had one since 2011 (Pacific/Apia skipping 30 December), and the rules above are
applied to them too.

In terms of the wall clock W(t): a fixed-time job fires, for each matching
minute w, at the first instant t with W(t) >= w (once per w, several w may share
it: the end of a jump); a job following the clock fires at every t with W(t) a
matching minute. Both are found from the wall clock, near the instant asked
about: no table of transitions is needed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from webapp.schedules.crontab import MAX_YEAR, CronError, CronSpec, parse_cron
from webapp.schedules.zones import UTC_NAME, ZoneError, zone
from webapp.web.errors import LunaError

MINUTE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)
PROBE = timedelta(hours=26)
"""More than any change of a zone's offset (24 h 40 min: Pacific/Kiritimati, 1994)."""
HORIZON_YEARS = 400
"""A search gives up after this many years of wall time. A valid expression
fires within 28 years in UTC (40 around 2100 for 29 February on a given
weekday); only one whose every time a zone's jumps skip can go further."""
LAST_YEAR = MAX_YEAR - 1
"""Walls of the year 9999 could be instants past datetime.max."""


class CrontabTrigger(BaseTrigger):
    """An APScheduler trigger that fires as crontab(5) does, in `timezone`."""

    __slots__ = ("spec", "timezone")

    def __init__(self, spec: CronSpec, timezone: tzinfo) -> None:
        self.spec = spec
        self.timezone = timezone

    def __str__(self) -> str:
        return f"crontab[{self.spec.text}]"

    def __repr__(self) -> str:
        return f"<CrontabTrigger ({self.spec.text!r}, timezone='{self.timezone}')>"

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # APScheduler's contract (as its CronTrigger): the first fire after the
        # previous one, not later than `now`.
        start = now
        if previous_fire_time is not None:
            start = min(now.astimezone(UTC), previous_fire_time.astimezone(UTC) + TICK)
        return self.next_fire(start)

    def next_fire(self, start: datetime) -> datetime | None:
        """The first fire at or after `start`, or None within HORIZON_YEARS. In UTC:
        two times on the zone's clock an hour apart in a repeated hour compare equal
        (PEP 495), two instants never do."""
        start = start.astimezone(UTC)
        last_year = min(LAST_YEAR, start.year + HORIZON_YEARS)
        fixed = self.timezone.utcoffset(None) if isinstance(self.timezone, timezone) else None
        if fixed is not None:  # UTC, or an offset without clock changes
            wall = self.spec.next_wall((start + fixed).replace(tzinfo=None), last_year)
            return None if wall is None else (wall - fixed).replace(tzinfo=UTC)
        found = self._first_reaching(start, last_year)
        if self.spec.follows_clock:
            again = self._repeated(start)
            if again is not None and (found is None or again < found):
                found = again
        return found

    def _first_reaching(self, start: datetime, last_year: int) -> datetime | None:
        """The first fire >= start at a matching minute's first instant: for a fixed-time
        job every fire; for one following the clock all but second occurrences."""
        zone = self.timezone
        # Every minute the clock had read by `start` fires before it (or at it, the
        # end of a jump, hence the tick): look from there on.
        wall = _wall(start - TICK, zone) + TICK
        while True:
            found = self.spec.next_wall(wall, last_year)
            if found is None:
                return None
            first = found.replace(tzinfo=zone).astimezone(UTC)  # fold 0: the first occurrence
            if _wall(first, zone) != found:
                # Skipped by a jump forward (fold 0 read it with the offset before the
                # jump). A fixed-time job runs right after the jump; one that follows
                # the clock does not run.
                jump = _transition(zone, found.replace(tzinfo=zone, fold=1).astimezone(UTC), first)
                if not self.spec.follows_clock and jump.instant >= start:
                    return jump.instant
                wall = max(found + MINUTE, jump.wall_after)
                continue
            if first >= start:
                return first
            # A minute first read before `start`: `start` is in a repeated period
            # (its second pass). Look again from the end of that period.
            second = found.replace(tzinfo=zone, fold=1).astimezone(UTC)
            wall = found + MINUTE
            if second > first:
                wall = max(wall, _transition(zone, first, second).wall_before)

    def _repeated(self, start: datetime) -> datetime | None:
        """For a job that follows the clock: the first second occurrence >= start of a
        matching minute, in a period a fall-back change near `start` repeats. (A
        change further away repeats minutes whose first occurrence is after `start`:
        `_first_reaching` finds those first.)"""
        zone = self.timezone
        earlier, later = start - PROBE, start + PROBE
        before, at, after = (_offset(moment, zone) for moment in (earlier, start, later))
        windows = [(earlier, start)] if before != at else []
        if at != after:
            windows.append((start, later))
        for low, high in windows:
            change = _transition(zone, low, high)
            if change.offset_after >= change.offset_before:
                continue
            # Walls [wall_after, wall_before) are read a second time from change.instant.
            lowest = max(change.instant, start) + change.offset_after
            found = self.spec.next_wall(lowest.replace(tzinfo=None), change.wall_before.year)
            if found is not None and found < change.wall_before:
                return (found - change.offset_after).replace(tzinfo=UTC)
        return None


def _wall(instant: datetime, zone: tzinfo) -> datetime:
    """The naive wall-clock time of an instant in a zone."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _offset(instant: datetime, zone: tzinfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


class _Transition:
    """A change of a zone's UTC offset."""

    __slots__ = ("instant", "offset_after", "offset_before")

    def __init__(self, instant: datetime, offset_before: timedelta, offset_after: timedelta):
        self.instant = instant
        self.offset_before = offset_before
        self.offset_after = offset_after

    @property
    def wall_before(self) -> datetime:
        """The wall time the clock reached just before the change (exclusive)."""
        return (self.instant + self.offset_before).replace(tzinfo=None)

    @property
    def wall_after(self) -> datetime:
        """The wall time the clock reads from the change on."""
        return (self.instant + self.offset_after).replace(tzinfo=None)


_KNOWN: dict[tzinfo, list[tuple[datetime, _Transition]]] = {}
"""Transitions found so far, per zone, sorted: a leader asks about the same few."""
_KNOWN_PER_ZONE = 4096


def _transition(zone: tzinfo, low: datetime, high: datetime) -> _Transition:
    """The change of offset in (low, high], where the offsets at low and high differ
    (zoneinfo tells offsets, not transitions: found by bisection, to the second)."""
    known = _KNOWN.setdefault(zone, [])
    index = bisect.bisect_left(known, low, key=lambda item: item[0])
    if index < len(known) and low < known[index][0] <= high:
        return known[index][1]
    offset_low = _offset(low, zone)
    # Transitions fall on whole seconds: the offset at floor(low) is offset_low.
    lo = math.floor(low.timestamp())
    hi = math.ceil(high.timestamp())
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if _offset(datetime.fromtimestamp(middle, UTC), zone) == offset_low:
            lo = middle
        else:
            hi = middle
    instant = datetime.fromtimestamp(hi, UTC)
    found = _Transition(instant, offset_low, _offset(instant, zone))
    if len(known) < _KNOWN_PER_ZONE:
        bisect.insort(known, (instant, found), key=lambda item: item[0])
    return found


def bad_trigger(field: str, message: str) -> LunaError:
    return LunaError("JSON_VALIDATION", path=f"trigger.{field}", message=message)


def cron_trigger(trigger: dict[str, Any], check_fires: bool = True) -> CrontabTrigger:
    """The trigger of a posted or stored `{cron, cron_timezone}`; LunaError 12022
    (path trigger.cron or trigger.cron_timezone, with the reason) if invalid.

    `check_fires` also refuses one that never fires in its zone (a stored trigger
    passed that check when it was stored)."""
    expression = str(trigger.get("cron", ""))
    zone_name = trigger.get("cron_timezone", UTC_NAME)
    try:
        spec = parse_cron(expression)
    except CronError as error:
        raise bad_trigger("cron", str(error)) from None
    try:
        built = CrontabTrigger(spec, zone(str(zone_name)))
    except ZoneError as error:
        raise bad_trigger("cron_timezone", str(error)) from None
    if check_fires and built.next_fire(datetime.now(UTC)) is None:
        # Such as "* 2 25-31 3 0" in Europe/Berlin: the last Sunday of March at
        # 02:xx, which that zone's spring change always skips.
        raise bad_trigger("cron", f"'{spec.text}' never fires in {zone_name}")
    return built


def stored_trigger(trigger: dict[str, Any]) -> CrontabTrigger:
    """The trigger of a stored schedule, shared by every schedule with the same one
    (APScheduler only asks a trigger for fire times, it never changes it). The
    leader builds 10,000 of these when it takes over, and each fire asks for the
    next fire time: building is most of the cost. LunaError if it is invalid."""
    zone_name = str(trigger.get("cron_timezone", UTC_NAME))
    return _stored_trigger(str(trigger.get("cron", "")), zone_name)


@lru_cache(maxsize=16384)
def _stored_trigger(cron: str, timezone: str) -> CrontabTrigger:
    return cron_trigger({"cron": cron, "cron_timezone": timezone}, check_fires=False)


def first_due(trigger: BaseTrigger, baseline: datetime | None, now: datetime) -> datetime | None:
    """When a job taken over by a leader runs first: the first fire time after the
    baseline (the last fire, or the last change) if it is already past — downtime,
    one catch-up run — else the next fire time. `missed_fire`'s rule, and the next
    fire time, in one computation."""
    # Just after the baseline, not a whole second after: a change at 12:00:59.5
    # must not lose the 12:01:00 fire when the leader syncs it at 12:01:00.2.
    # (Fires fall on whole minutes, so a fire at exactly 12:01:00 as the baseline
    # still finds 12:02 next.)
    after = now if baseline is None else min(baseline + TICK, now)
    fire: datetime | None = trigger.get_next_fire_time(None, after)
    return fire


def fire_times(
    trigger: BaseTrigger, after: datetime, until: datetime | None = None
) -> Iterator[datetime]:
    """Fire times from `after` (inclusive) on, as the scheduler would compute them."""
    previous: datetime | None = None
    now = after
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or (until is not None and fire >= until):
            return
        yield fire
        previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)


def missed_fire(trigger: BaseTrigger, baseline: datetime, now: datetime) -> datetime | None:
    """The first fire time after `baseline` (the last fire, or when the schedule was
    last written) if it is already past: there was downtime, and the leader runs one
    catch-up. None when nothing was missed (then `first_due` is the next fire)."""
    first = first_due(trigger, baseline, now)
    return first if first is not None and first <= now else None
