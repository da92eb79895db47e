"""Schedule triggers: a five-field cron expression in a time zone.

`cron_timezone` is "utc", "local" (the zone of the server process) or, as an
extension, any IANA zone name such as "Europe/Berlin". Fire times come from
APScheduler 3.11's CronTrigger, with one correction for the autumn clock change
(see `LocalCronTrigger`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from webapp.web.errors import LunaError

MAX_CRON_LENGTH = 128
MAX_ZONE_LENGTH = 64


class LocalCronTrigger(CronTrigger):
    """CronTrigger that fires a fixed-hour job once per local day across DST.

    APScheduler 3.11 fires "30 2 * * *" in Europe/Berlin twice on the day the
    clocks go back (02:30 CEST, then 02:30 CET an hour later). Like Vixie cron,
    we skip the second occurrence of a repeated wall-clock time unless the hour
    field is "*" (an hourly job should run every real hour). In spring a time
    that does not exist (02:30 on the day clocks jump 02:00 -> 03:00) is fired
    once, at the instant just after the jump, by CronTrigger itself.
    """

    hour_wildcard: bool = False

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None and not self.hour_wildcard and _is_repeat(fire):
            fire = super().get_next_fire_time(fire, fire + timedelta(seconds=1))
        return fire


def _is_repeat(moment: datetime) -> bool:
    """Whether `moment` is the second occurrence of its wall-clock time (autumn)."""
    zone = moment.tzinfo
    assert zone is not None
    wall = moment.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    return moment.astimezone(UTC) == second.astimezone(UTC)


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


def cron_trigger(trigger: dict[str, Any]) -> LocalCronTrigger:
    """The APScheduler trigger of a stored or posted trigger; LunaError 12022 if invalid."""
    expression = str(trigger.get("cron", ""))
    timezone = zone(str(trigger.get("cron_timezone") or "utc"))
    fields = expression.split()
    if len(fields) != 5:
        raise bad_trigger(
            "cron", f"'{expression[:MAX_CRON_LENGTH]}' must have five fields, got {len(fields)}"
        )
    try:
        built = LocalCronTrigger.from_crontab(expression, timezone=timezone)
    except ValueError as exc:
        raise bad_trigger("cron", f"'{expression}': {exc}") from None
    assert isinstance(built, LocalCronTrigger)
    built.hour_wildcard = fields[1] == "*"
    if built.get_next_fire_time(None, datetime.now(UTC)) is None:
        # Such as "0 0 31 2 *": valid fields, never a date.
        raise bad_trigger("cron", f"'{expression}' never fires")
    return built


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
        previous, now = fire, fire + timedelta(microseconds=1)


def next_run_time(trigger: dict[str, Any], now: datetime | None = None) -> datetime | None:
    return cron_trigger(trigger).get_next_fire_time(None, now or datetime.now(UTC))


def missed_fire(trigger: CronTrigger, baseline: datetime, now: datetime) -> datetime | None:
    """The first fire time after `baseline` (the last fire, or when the schedule was
    last written) if it is already past: there was downtime, and the leader runs one
    catch-up. None when nothing was missed."""
    first = trigger.get_next_fire_time(None, baseline + timedelta(microseconds=1))
    return first if first is not None and first <= now else None
