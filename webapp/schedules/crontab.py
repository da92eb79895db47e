"""A five-field cron expression read as crontab(5) reads it (Vixie cron, cronie).

Only the expression: which wall-clock minutes it names. Where those minutes
fall in real time, across clock changes, is `webapp.schedules.triggers`'s work.

The reading follows cronie's parser (src/entry.c) and matcher (src/cron.c):

- five fields separated by spaces or tabs: minute 0-59, hour 0-23, day of
  month 1-31, month 1-12, day of week 0-7 (0 and 7 are Sunday);
- each field a comma-separated list of `*`, `N`, `N-M`, `*/S` or `N-M/S`; a
  step walks the range from its first value (`20-23/4` is 20 alone,
  `*/2` in the day of week is 0, 2, 4, 6: Sunday, Tuesday, Thursday, Saturday);
- names, any case, in the month (`jan`-`dec`) and day-of-week (`sun`-`sat`)
  fields, also as range ends (`mon-fri`); `N-0` in the day of week runs to
  Sunday (`fri-sun` is 5-7), as cronie reads it;
- `?` (a whole day field) is read as `*`;
- `N/S`, which cronie refuses, is read as `N-<last>/S` (`1/2` in the day of week:
  Monday, Wednesday, Friday, Sunday), as most cron libraries read it and as
  this service always did;
- the day rule: when the day of month or the day of week field starts with `*`
  (or is `?`), a day must match both; when neither does, a day matching
  **either** fires (`0 0 1 * 1`: every 1st and every Monday);
- a job is *fixed-time* when neither its minute nor its hour field starts with
  `*`; the others *follow the clock* (the difference shows at clock changes).

Refused, with the reason: anything not ASCII (full-width digits included), a
value out of its field's range, a range that runs backwards, a step of 0,
cronie's random `~`, Quartz's `L`, `W` and `#`, `@daily` and the like, and an
expression whose days never exist (`0 0 31 2 *`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

MAX_YEAR = 9999

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""The most days each month can have (February 29 in leap years)."""

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class FieldKind:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    """Names for the values low, low+1, ... (month and day of week)."""
    day: bool = False
    """A day field: `?` is allowed, and a field starting with `*` takes part in the day rule."""


MINUTE = FieldKind("minute", 0, 59)
HOUR = FieldKind("hour", 0, 23)
DAY_OF_MONTH = FieldKind("day of month", 1, 31, day=True)
MONTH = FieldKind("month", 1, 12, MONTH_NAMES)
DAY_OF_WEEK = FieldKind("day of week", 0, 7, DAY_NAMES, day=True)
KINDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)

# One element of a field's list: `*`, `*/S`, `A`, `A-B`, `A-B/S`, `A/S`; A and B
# are numbers or names (cronie reads a run of letters and digits as one token).
_ELEMENT = re.compile(
    r"(?:(?P<star>\*)|(?P<first>[0-9A-Za-z]+)(?:-(?P<last>[0-9A-Za-z]+))?)(?:/(?P<step>[0-9]+))?"
)
_SEPARATORS = re.compile(r"[ \t]+")
_QUARTZ_DAY = re.compile(r"L|W|LW|L-?[0-9]+|[0-9]+[LW]")
"""Quartz's last-day and weekday marks (`L`, `15W`, `5L`), which cronie has not."""


class CronError(ValueError):
    """A cron expression crontab(5) would not take; the message says why, for people."""


def _value(token: str, kind: FieldKind, element: str) -> int:
    if token.isdigit():
        number = int(token)
        if not kind.low <= number <= kind.high:
            raise CronError(
                f"{kind.name} '{element}': {number} is out of range {kind.low}-{kind.high}"
            )
        return number
    lowered = token.lower()
    if kind.names and lowered in kind.names:
        return kind.low + kind.names.index(lowered)
    if kind.day and _QUARTZ_DAY.fullmatch(token.upper()):
        raise CronError(f"{kind.name} '{element}': L, W and # are not part of crontab(5)")
    if kind.names:
        raise CronError(
            f"{kind.name} '{element}': '{token}' is not a number or a name "
            f"({kind.names[0]}-{kind.names[-1]})"
        )
    raise CronError(f"{kind.name} '{element}': '{token}' is not a number")


def _element_values(element: str, kind: FieldKind) -> range:
    if not element:
        raise CronError(f"{kind.name}: an empty item in the list")
    match = _ELEMENT.fullmatch(element)
    if match is None:
        raise CronError(_unreadable(element, kind))
    step_text = match["step"]
    step = int(step_text) if step_text is not None else 1
    if step == 0:
        raise CronError(f"{kind.name} '{element}': the step must be at least 1")
    if match["star"]:
        return range(kind.low, kind.high + 1, step)
    first = _value(match["first"], kind, element)
    if match["last"] is None:
        # `N/S` (an extension, see the module's docstring) runs to the field's end.
        return range(first, (kind.high if step_text is not None else first) + 1, step)
    last = _value(match["last"], kind, element)
    if kind is DAY_OF_WEEK and last == 0 and first > 0 and step_text is None:
        last = 7  # cronie: `5-0` is Friday to Sunday
    if first > last:
        raise CronError(f"{kind.name} '{element}': the range runs backwards")
    return range(first, last + 1, step)


def _unreadable(element: str, kind: FieldKind) -> str:
    if "~" in element:
        return f"{kind.name} '{element}': random values (~) are not supported"
    if any(mark in element.upper() for mark in ("L", "W", "#")) and kind.day:
        return f"{kind.name} '{element}': L, W and # are not part of crontab(5)"
    return (
        f"{kind.name} '{element}': use *, N, N-M, */S or N-M/S "
        f"(numbers {kind.low}-{kind.high}{', or names' if kind.names else ''})"
    )


@dataclass(frozen=True, slots=True)
class ParsedField:
    text: str
    values: frozenset[int]
    star: bool
    """The field starts with `*` (or is `?`): cronie's MIN_STAR, HR_STAR, DOM_STAR, DOW_STAR."""
    ordered: tuple[int, ...]
    """The values, sorted."""


@lru_cache(maxsize=4096)
def parse_field(text: str, kind: FieldKind) -> ParsedField:
    """One field. Cached: a leader holds 10,000 triggers, most of whose fields are
    the same few (`*`, `0`), and shares them."""
    values: set[int] = set()
    if kind.day and text == "?":
        values.update(range(kind.low, kind.high + 1))
    else:
        for element in text.split(","):
            values.update(_element_values(element, kind))
    if kind is DAY_OF_WEEK:
        values = {day % 7 for day in values}
    star = text.startswith("*") or text == "?"
    return ParsedField(text, frozenset(values), star, tuple(sorted(values)))


def _check_text(expression: str) -> list[str]:
    for position, char in enumerate(expression):
        if not (char.isascii() and (char.isprintable() or char == "\t")):
            shown = repr(char) if char.isascii() else f"'{char}' (U+{ord(char):04X})"
            raise CronError(
                f"only ASCII letters, digits and * , - / ? are allowed: {shown} "
                f"at position {position + 1} is not"
            )
    stripped = expression.strip(" \t")
    if stripped.startswith("@"):
        word = stripped.split()[0].lower()
        if word in MACROS:
            raise CronError(f"use five fields: {word} is '{MACROS[word]}'")
        raise CronError(f"'{word}' is not a cron expression: use five fields")
    fields = _SEPARATORS.split(stripped) if stripped else []
    if len(fields) != 5:
        raise CronError(
            f"must have five fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    return fields


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A parsed expression: the values of each field and cronie's star flags."""

    minute: ParsedField
    hour: ParsedField
    day_of_month: ParsedField
    month: ParsedField
    day_of_week: ParsedField

    @property
    def minutes(self) -> tuple[int, ...]:
        return self.minute.ordered

    @property
    def hours(self) -> tuple[int, ...]:
        return self.hour.ordered

    @property
    def text(self) -> str:
        """The expression, fields separated by one space."""
        return " ".join(f.text for f in self.fields)

    @property
    def fields(self) -> tuple[ParsedField, ...]:
        return (self.minute, self.hour, self.day_of_month, self.month, self.day_of_week)

    @property
    def follows_clock(self) -> bool:
        """The minute or the hour field starts with `*`: the job runs whenever the
        clock reads a matching time (none in a skipped hour, twice in a repeated
        one). Otherwise it is fixed-time (see triggers)."""
        return self.minute.star or self.hour.star

    @property
    def either_day(self) -> bool:
        """Both day fields restricted (neither starts with `*`): either one fires."""
        return not self.day_of_month.star and not self.day_of_week.star

    def day_matches(self, day: date) -> bool:
        """The month and the day rule (not the time)."""
        if day.month not in self.month.values:
            return False
        by_date = day.day in self.day_of_month.values
        by_weekday = (day.weekday() + 1) % 7 in self.day_of_week.values
        return (by_date or by_weekday) if self.either_day else (by_date and by_weekday)

    def matches(self, wall: datetime) -> bool:
        return (
            wall.minute in self.minute.values
            and wall.hour in self.hour.values
            and self.day_matches(wall.date())
        )

    def next_day(self, day: date, last_year: int = MAX_YEAR) -> date | None:
        """The first day on or after `day` that matches (month and day rule)."""
        year, month, first = day.year, day.month, day.day
        while year <= last_year:
            if month not in self.month.values:
                # On to the next month the field names (this year's, or next year's first).
                months = self.month.ordered
                later = bisect_left(months, month)
                if later == len(months):
                    year, month, first = year + 1, months[0], 1
                else:
                    month, first = months[later], 1
                continue
            length = monthrange(year, month)[1]
            if self.either_day:
                candidates: range | tuple[int, ...] = range(first, length + 1)
            else:
                # Both must match: only the listed days of the month can.
                dates = self.day_of_month.ordered
                candidates = dates[bisect_left(dates, first) :]
            for number in candidates:
                if number > length:
                    break
                found = date(year, month, number)
                if self.day_matches(found):
                    return found
            month, first = month + 1, 1
            if month > 12:
                year, month = year + 1, 1
        return None

    def next_wall(self, after: datetime, last_year: int = MAX_YEAR) -> datetime | None:
        """The first matching wall-clock minute at or after the naive `after`."""
        if after.second or after.microsecond:
            after = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day: date | None = after.date()
        at = self._time_at_or_after(after.hour, after.minute)
        while day is not None:
            found = self.next_day(day, last_year)
            if found is None:
                return None
            if found != after.date():
                at = time(self.hours[0], self.minutes[0])
            if at is not None:
                return datetime.combine(found, at)
            day = found + timedelta(days=1) if found < date(last_year, 12, 31) else None
        return None

    def _time_at_or_after(self, hour: int, minute: int) -> time | None:
        index = bisect_left(self.hours, hour)
        if index < len(self.hours) and self.hours[index] == hour:
            at = bisect_left(self.minutes, minute)
            if at < len(self.minutes):
                return time(hour, self.minutes[at])
            index += 1
        if index < len(self.hours):
            return time(self.hours[index], self.minutes[0])
        return None


def parse_cron(expression: str) -> CronSpec:
    """The expression as crontab(5) reads it; CronError (with the reason) if it
    would be refused, or if its days never exist."""
    fields = _check_text(expression)
    spec = CronSpec(*(parse_field(text, kind) for text, kind in zip(fields, KINDS, strict=True)))
    if not spec.either_day and not any(
        day <= DAYS_IN_MONTH[month - 1]
        for month in spec.month.values
        for day in spec.day_of_month.values
    ):
        # Every date falls on every weekday within 28 years (400 for 29 February),
        # so only the month and the day of the month can make it impossible.
        raise CronError(f"'{spec.text}' never fires: no month it names has such a day")
    return spec
