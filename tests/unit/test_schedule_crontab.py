"""A cron expression read as crontab(5) reads it (webapp.schedules.crontab),
checked against what cronie's parser (src/entry.c) takes and refuses."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from webapp.schedules.crontab import CronError, parse_cron


def values(cron: str, index: int) -> list[int]:
    return sorted(parse_cron(cron).fields[index].values)


@pytest.mark.parametrize(
    ("field", "minutes"),
    [
        ("20-23/4", [20]),  # a step walks the range from its first value
        ("20-29/4", [20, 24, 28]),
        ("*/15", [0, 15, 30, 45]),
        ("*/45", [0, 45]),
        ("*/100", [0]),  # cronie warns, and takes it
        ("0-59/30", [0, 30]),
        ("5/20", [5, 25, 45]),  # N/S: N to the end (an extension; cronie refuses it)
        ("1,2,3-5", [1, 2, 3, 4, 5]),
        ("007", [7]),
        ("59", [59]),
    ],
)
def test_minutes(field, minutes):
    assert values(f"{field} * * * *", 0) == minutes


@pytest.mark.parametrize(
    ("cron", "index", "expected"),
    [
        ("0 0 * JAN *", 3, [1]),
        ("0 0 * jan-mar *", 3, [1, 2, 3]),
        ("0 0 * Dec *", 3, [12]),
        ("0 0 * */2 *", 3, [1, 3, 5, 7, 9, 11]),
        ("0 0 * * MON", 4, [1]),
        ("0 0 * * sun", 4, [0]),
        ("0 0 * * 7", 4, [0]),
        ("0 0 * * 0-7", 4, [0, 1, 2, 3, 4, 5, 6]),
        ("0 0 * * sat-sun", 4, [0, 6]),  # N-0: to Sunday
        ("0 0 * * */2", 4, [0, 2, 4, 6]),
        ("0 0 * * 1-7/3", 4, [0, 1, 4]),
        ("0 0 ? * 1", 2, list(range(1, 32))),
        ("0 0 1 * ?", 4, list(range(7))),
        ("0 0 */10 * *", 2, [1, 11, 21, 31]),
    ],
)
def test_names_question_marks_and_sunday(cron, index, expected):
    assert values(cron, index) == expected


@pytest.mark.parametrize(
    ("cron", "either", "follows_clock"),
    [
        ("0 0 1 * 1", True, False),
        ("0 0 1 * *", False, False),
        ("0 0 */2 * 1", False, False),  # starts with *: both must match
        ("0 0 ? * 1", False, False),
        ("0 0 1-31 * 0-7", True, False),
        ("*/15 2 * * *", False, True),
        ("0 */2 * * *", False, True),
        ("0-59 0-23 * * *", False, False),  # every minute, yet fixed-time, as for cronie
    ],
)
def test_the_flags_of_the_rules(cron, either, follows_clock):
    spec = parse_cron(cron)
    assert spec.either_day is either
    assert spec.follows_clock is follows_clock


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("\uff10 \uff10 * * *", "ASCII"),  # full-width digits
        ("0 0 * * \u0661", "ASCII"),  # Arabic-Indic one
        ("0\u00a00 * * *", "ASCII"),  # no-break space
        ("0 0 * * *\n", "ASCII"),
        ("0 0 * *", "five fields"),
        ("0 0 * * * *", "five fields"),
        ("", "five fields"),
        ("@daily", "0 0 * * *"),
        ("60 * * * *", "out of range 0-59"),
        ("* 24 * * *", "out of range 0-23"),
        ("* * 0 * *", "out of range 1-31"),
        ("* * 32 * *", "out of range 1-31"),
        ("* * * 13 *", "out of range 1-12"),
        ("* * * * 8", "out of range 0-7"),
        ("50-70/30 * * * *", "out of range"),
        ("5-1 * * * *", "backwards"),
        ("* * * * mon-sun/2", "backwards"),
        ("*/0 * * * *", "at least 1"),
        ("1,,2 * * * *", "empty"),
        ("1, * * * *", "empty"),
        ("*5 * * * *", "use *"),
        ("*-5 * * * *", "use *"),
        ("1-5-7 * * * *", "use *"),
        ("~ * * * *", "random"),
        ("0 0 L * *", "L, W and #"),
        ("0 0 15W * *", "L, W and #"),
        ("0 0 * * 5L", "L, W and #"),
        ("0 0 * * mon#2", "L, W and #"),
        ("0 0 * * monday", "not a number or a name"),
        ("jan * * * *", "not a number"),
        ("0 0 * ? *", "use *"),  # ? only in a day field
        ("0 0 last * *", "not a number"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("0 0 31 2 */2", "never fires"),
        ("+5 * * * *", "use *"),
    ],
)
def test_what_cron_refuses_is_refused_with_the_reason(cron, reason):
    with pytest.raises(CronError, match=None) as caught:
        parse_cron(cron)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "cron",
    [
        "0 0 29 2 *",  # every fourth year
        "0 0 31 2 1",  # either: every Monday of February
        "0 0 31 2,3 *",
        "0 0 30 2 0-7",  # either, with every weekday: every day of February
    ],
)
def test_what_fires_rarely_is_taken(cron):
    parse_cron(cron)


def test_spaces_and_tabs_separate_fields_and_are_stored_as_one_space():
    assert parse_cron("  5\t4  *  * *  ").text == "5 4 * * *"


def test_the_next_matching_wall_minute():
    spec = parse_cron("30 2 29 2 *")
    assert spec.next_wall(datetime(2026, 1, 1)) == datetime(2028, 2, 29, 2, 30)
    assert spec.next_wall(datetime(2028, 2, 29, 2, 30)) == datetime(2028, 2, 29, 2, 30)
    assert spec.next_wall(datetime(2028, 2, 29, 2, 30, 1)) == datetime(2032, 2, 29, 2, 30)
    assert spec.next_wall(datetime(2028, 3, 1), last_year=2031) is None
    either = parse_cron("0 0 13 * 5")
    assert either.next_day(date(2026, 11, 1)) == date(2026, 11, 6)  # a Friday
    assert either.next_day(date(2026, 11, 7)) == date(2026, 11, 13)  # the 13th, a Friday too
    assert either.next_day(date(2026, 12, 12)) == date(2026, 12, 13)  # a Sunday
