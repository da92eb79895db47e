"""A cron trigger described in words, and its next fire times, for the pages and
the preview route.

The words come from the parsed expression (webapp.schedules.crontab), so they
say what fires, not what was typed: `0 0 * * 0-7` is every day, `20-23/4` is
minute 20. cron-descriptor words the time of day and the month, from each field
rewritten in a plain form whose reading it gets right (a single value, a range,
`*/S` only when it really repeats every S, a range with a step that ends on its
last value, or a list). The days are worded here, because cron-descriptor reads
them otherwise than crontab(5): numbered from Sunday with `7` a second Sunday,
and with no notion of the rule that a day matching either restricted day field
fires.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import Any

from cron_descriptor import ExpressionDescriptor, Options

from webapp.schedules.crontab import CronError, CronSpec, parse_cron
from webapp.schedules.triggers import TICK, cron_trigger, fire_times

_OPTIONS = Options()
_OPTIONS.use_24hour_time_format = True
_OPTIONS.throw_exception_on_parse_error = True

WEEK = (1, 2, 3, 4, 5, 6, 0)
"""Days of the week in the order the words list them (Monday first)."""
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
ODD_DAYS = frozenset(range(1, 32, 2))
EVEN_DAYS = frozenset(range(2, 31, 2))


def describe(cron: str | CronSpec) -> str:
    """'5 4 * * 1-5' -> 'At 04:05, Monday through Friday'; the expression as typed
    when it is not valid (a stored one the rules refuse since)."""
    try:
        spec = cron if isinstance(cron, CronSpec) else parse_cron(cron)
    except CronError:
        return str(cron)
    month = _plain(sorted(spec.month.values), 1, 12)
    minute = _plain(list(spec.minutes), 0, 59)
    hour = _plain(list(spec.hours), 0, 23)
    if len(spec.minutes) > 1 and len(spec.hours) == 1 and ("/" in minute or "," in minute):
        # "0,30 8": cron-descriptor would say "at 08:00" for the hour; a one-hour
        # range makes it "between 08:00 and 08:59".
        hour = f"{hour}-{hour}"
    descriptor = ExpressionDescriptor(f"{minute} {hour} * {month} *", _OPTIONS)
    if len(spec.minutes) > 1 and ("," in hour or "/" in hour):
        # "*/20 1,3": it would say "at 01:00 and 03:00", which never fire; "*/5 */6":
        # "every 5 minutes, every 6 hours", which reads as one run every 6 hours.
        time_of_day = f"{descriptor.get_minutes_description()}, during hours {_hours(spec.hours)}"
    else:
        time_of_day = descriptor.get_time_of_day_description()
    text = f"{time_of_day}{_days(spec)}{descriptor.get_month_description()}"
    text = descriptor.transform_verbosity(text, use_verbose_format=False)
    return text[:1].upper() + text[1:]


def _plain(values: list[int], low: int, high: int) -> str:
    """A field's values as the plain cron field cron-descriptor words right."""
    if len(values) == high - low + 1:
        return "*"
    if len(values) == 1:
        return str(values[0])
    first, last = values[0], values[-1]
    if values == list(range(first, last + 1)):
        return f"{first}-{last}"
    step = values[1] - values[0]
    if values == list(range(first, last + 1, step)):
        if first == low and last + step > high and (high - low + 1) % step == 0:
            return f"*/{step}"  # truly every `step`, across the end of the hour/day/year
        if len(values) >= 3:
            return f"{first}-{last}/{step}"
    return ",".join(str(value) for value in values)


def _hours(hours: tuple[int, ...]) -> str:
    """'03 and 07'; '00, 06, 12, and 18'; '01, 03, ..., 23'."""
    step = hours[1] - hours[0]
    if len(hours) > 4 and hours == tuple(range(hours[0], hours[-1] + 1, step)):
        return f"{hours[0]:02d}, {hours[1]:02d}, ..., {hours[-1]:02d}"
    return _listed([f"{hour:02d}" for hour in hours], "and")


def _listed(items: list[str], word: str) -> str:
    if len(items) <= 2:
        return f" {word} ".join(items)
    return f"{', '.join(items[:-1])}, {word} {items[-1]}"


def _weekdays(days: frozenset[int], word: str) -> str:
    """'Monday through Friday', 'Monday, Wednesday, Friday, and Sunday'."""
    ordered = [day for day in WEEK if day in days]
    groups: list[list[int]] = []
    for day in ordered:
        if groups and WEEK.index(day) == WEEK.index(groups[-1][-1]) + 1:
            groups[-1].append(day)
        else:
            groups.append([day])
    items: list[str] = []
    for group in groups:
        if len(group) >= 3:
            items.append(f"{DAY_NAMES[group[0]]} through {DAY_NAMES[group[-1]]}")
        else:
            items.extend(DAY_NAMES[day] for day in group)
    return _listed(items, word)


def _days_of_month(days: frozenset[int]) -> str:
    values = sorted(days)
    if len(values) == 1:
        return f"day {values[0]} of the month"
    if days == ODD_DAYS:
        return "odd days of the month (1, 3, ..., 31)"
    if days == EVEN_DAYS:
        return "even days of the month (2, 4, ..., 30)"
    first, last = values[0], values[-1]
    if values == list(range(first, last + 1)):
        return f"days {first} to {last} of the month"
    step = values[1] - first
    if len(values) > 4 and values == list(range(first, last + 1, step)):
        return f"days {first}, {first + step}, {first + 2 * step}, ..., {last} of the month"
    return f"days {_listed([str(v) for v in values], 'and')} of the month"


def _days(spec: CronSpec) -> str:
    """The day rule in words: both restricted day fields as 'either', else 'both'."""
    by_date = spec.day_of_month.values
    by_weekday = spec.day_of_week.values
    all_dates = len(by_date) == 31
    all_weekdays = len(by_weekday) == 7
    if spec.either_day:
        if all_dates or all_weekdays:
            return ""  # a day matching either field: every day
        return f", on {_days_of_month(by_date)} and on every {_weekdays(by_weekday, 'and')}"
    if all_dates and all_weekdays:
        return ""
    if all_dates:
        weekdays = _weekdays(by_weekday, "and")
        return (
            f", {weekdays}"
            if " through " in weekdays and "," not in weekdays
            else (f", only on {weekdays}")
        )
    if all_weekdays:
        return f", on {_days_of_month(by_date)}"
    return f", on {_days_of_month(by_date)}, if it is a {_weekdays(by_weekday, 'or')}"


def preview(
    trigger: dict[str, Any], count: int = 5, start: datetime | None = None
) -> dict[str, Any]:
    """What the form and the preview route show: the words, and the first `count`
    fire times strictly after `start` (default now; without an offset, a time on the
    trigger's zone's clock, the first if it occurs twice), on that clock. LunaError
    (12022, with the reason) when the trigger is invalid, exactly as when a schedule
    is stored."""
    built = cron_trigger(trigger)
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=built.timezone)
    after = (start or datetime.now(UTC)).astimezone(UTC) + TICK
    times = islice(fire_times(built, after), count)
    return {
        "description": describe(built.spec),
        "next_fire_times": [moment.astimezone(built.timezone).isoformat() for moment in times],
    }
