"""A cron trigger described in words, and its next fire times, for the pages."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import Any

from cron_descriptor import ExpressionDescriptor, Options

from webapp.schedules.triggers import cron_trigger, fire_times, zone

_OPTIONS = Options()
_OPTIONS.use_24hour_time_format = True
_OPTIONS.throw_exception_on_parse_error = True


def describe(cron: str) -> str:
    """'5 4 * * 1-5' -> 'At 04:05, Monday through Friday'.

    cron-descriptor reads cron as Vixie cron does, which holds for everything the
    scheduler accepts but one thing: a day must match both a restricted day of the
    month and a restricted day of the week (see webapp.schedules.triggers), where
    the description would say "or".
    """
    try:
        text = str(ExpressionDescriptor(cron, _OPTIONS).get_description())
    except Exception:  # the library raises its own FormatException and others
        return cron
    return text.replace(", or on ", ", and only on ")


def preview(trigger: dict[str, Any], count: int = 5, now: datetime | None = None) -> dict[str, Any]:
    """What the form shows beside the trigger: the words and the next `count` fire
    times in the trigger's zone. LunaError (12022, with the reason) when invalid."""
    built = cron_trigger(trigger)
    local = zone(str(trigger.get("cron_timezone") or "utc"))
    times = islice(fire_times(built, now or datetime.now(UTC)), count)
    return {
        "description": describe(str(trigger["cron"])),
        "next_fire_times": [moment.astimezone(local).isoformat() for moment in times],
    }
