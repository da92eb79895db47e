"""The trigger against a model of crontab(5), over random crons and every clock
change of several years in zones with 1-hour, 30-minute (Australia/Lord_Howe),
2-hour (Antarctica/Troll) and 15-minute (Asia/Kathmandu, 1986) jumps, odd
offsets (Pacific/Chatham, Asia/Kathmandu), changes of the standard offset
without DST (America/Caracas, Europe/Volgograd, Asia/Pyongyang, Asia/Almaty,
America/Nuuk), and the day Pacific/Apia skipped in 2011.

The model is written apart from the service's code: its own reading of the
fields, and cronie's loop itself (src/cron.c), walked minute by minute over real
instants. cronie remembers the last wall-clock minute it ran (its virtual time
V); at each real minute it reads the clock w and:

- w = V + 1 (the clock moved on): every job matching w runs;
- w > V + 1 (a jump forward): jobs that follow the clock (minute or hour field
  starting with `*`) run if they match w; fixed-time jobs run once if any
  minute of (V, w] matches;
- w <= V (the clock went back): jobs that follow the clock run if they match w;
  fixed-time jobs do not (their minute already ran).

Seeded and reproducible (SEED); each case is one question to the trigger (its
next fire after an instant) or one window's whole sequence of fires, and the
test counts them: at least 20,000, with no disagreement.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from webapp.schedules.crontab import CronError
from webapp.schedules.triggers import cron_trigger, fire_times

SEED = 5_010_011
CRONS_PER_WINDOW = 24
QUESTIONS_PER_CRON = 8
HALF_WINDOW = timedelta(hours=26)
MINUTE = timedelta(minutes=1)

YEARS = range(2024, 2029)
DST_ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",  # changes at 24:00: the repeated hour is the day before's
    "America/Havana",  # changes at 00:00 and 01:00
    "America/St_Johns",  # -03:30
    "Australia/Adelaide",  # +09:30
    "Australia/Lord_Howe",  # 30-minute jumps
    "Antarctica/Troll",  # 2-hour jumps
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Casablanca",  # back and forth around Ramadan
    "Asia/Kathmandu",  # +05:45, no change in these years (steady windows below)
)
HISTORICAL = (
    ("Asia/Kathmandu", 1985, 1987),  # +05:30 -> +05:45: a 15-minute jump
    ("America/Caracas", 2016, 2017),  # -04:30 -> -04:00, standard time
    ("Europe/Volgograd", 2018, 2021),  # +03 -> +04 -> +03, standard time
    ("Asia/Pyongyang", 2015, 2019),  # +09 -> +08:30 -> +09
    ("Asia/Almaty", 2024, 2025),  # +06 -> +05 at midnight, 29 February 2024
    ("America/Nuuk", 2023, 2024),  # -03 -> -02 standard time, then DST again
    ("Pacific/Apia", 2011, 2012),  # 30 December 2011 skipped
)
STEADY = (  # zone, start: a week with no change, for the day fields
    ("Asia/Kathmandu", datetime(2026, 6, 1)),
    ("Pacific/Chatham", datetime(2026, 6, 29)),
    ("utc", datetime(2026, 2, 23)),
    ("Europe/Berlin", datetime(2027, 1, 25)),
    ("America/New_York", datetime(2028, 2, 24)),
)

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# ------------------------------------------------------------------ the model


def _number(token: str, low: int, names: tuple[str, ...]) -> int:
    return int(token) if token.isdigit() else low + names.index(token.lower())


def model_field(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    if text == "?":
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-")
            first, last = _number(a, low, names), _number(b, low, names)
            if high == 7 and last == 0 and not slash:
                last = 7  # cronie: 5-0 is Friday to Sunday
        else:
            first = _number(base, low, names)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return values


@dataclass
class Model:
    """The expression as the model reads it: a table per field."""

    minutes: list[bool]
    hours: list[bool]
    doms: list[bool]
    months: list[bool]
    dows: list[bool]
    either: bool
    follows_clock: bool

    @classmethod
    def of(cls, cron: str) -> Model:
        m, h, dom, mon, dow = cron.split()

        def table(values: set[int], size: int) -> list[bool]:
            return [v in values for v in range(size)]

        weekdays = {d % 7 for d in model_field(dow, 0, 7, DAYS)}
        return cls(
            table(model_field(m, 0, 59), 60),
            table(model_field(h, 0, 23), 24),
            table(model_field(dom, 1, 31), 32),
            table(model_field(mon, 1, 12, MONTHS), 13),
            table(weekdays, 7),
            either=not dom.startswith(("*", "?")) and not dow.startswith(("*", "?")),
            follows_clock=m.startswith("*") or h.startswith("*"),
        )

    def matches(self, wall: tuple[int, int, int, int, int]) -> bool:
        minute, hour, day, month, weekday = wall
        if not (self.minutes[minute] and self.hours[hour] and self.months[month]):
            return False
        if self.either:
            return self.doms[day] or self.dows[weekday]
        return self.doms[day] and self.dows[weekday]


def wall_tuple(moment: datetime) -> tuple[int, int, int, int, int]:
    return (moment.minute, moment.hour, moment.day, moment.month, (moment.weekday() + 1) % 7)


@dataclass
class Window:
    """Real minutes of a stretch of time, with the wall clock each reads, and what
    cronie's loop sees there: the clock moving on, jumping, or going back."""

    zone_name: str
    start: datetime
    end: datetime
    instants: list[datetime]
    walls: list[tuple[int, int, int, int, int]]
    skipped: list[list[tuple[int, int, int, int, int]]]
    """Per minute, the wall minutes a jump forward skipped before it (V+1 .. w-1)."""
    back: list[bool]
    """Per minute: the clock reads a minute it already read (w <= V)."""

    @classmethod
    def around(cls, zone_name: str, start: datetime, end: datetime) -> Window:
        zone = UTC if zone_name == "utc" else ZoneInfo(zone_name)
        naive = lambda t: t.astimezone(zone).replace(tzinfo=None)  # noqa: E731
        virtual = naive(start - MINUTE)
        instants, walls, skipped, back = [], [], [], []
        moment = start
        while moment < end:
            wall = naive(moment)
            gap: list[tuple[int, int, int, int, int]] = []
            step = virtual + MINUTE
            while step < wall:
                gap.append(wall_tuple(step))
                step += MINUTE
            instants.append(moment)
            walls.append(wall_tuple(wall))
            skipped.append(gap)
            back.append(wall <= virtual)
            virtual = max(virtual, wall)
            moment += MINUTE
        return cls(zone_name, start, end, instants, walls, skipped, back)

    def fires(self, model: Model) -> list[datetime]:
        fired = []
        for instant, wall, gap, back in zip(
            self.instants, self.walls, self.skipped, self.back, strict=True
        ):
            if back:
                hit = model.follows_clock and model.matches(wall)
            elif gap and not model.follows_clock:
                hit = model.matches(wall) or any(model.matches(w) for w in gap)
            else:
                hit = model.matches(wall)
            if hit:
                fired.append(instant)
        return fired


def changes(zone_name: str, first_year: int, last_year: int) -> list[datetime]:
    """The instants the zone's offset changes (sampled every 6 hours, then found
    to the minute)."""
    zone = ZoneInfo(zone_name)
    offset = lambda t: t.astimezone(zone).utcoffset()  # noqa: E731
    found = []
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    while moment < end:
        later = moment + timedelta(hours=6)
        if offset(later) != offset(moment):
            low, high = moment, later
            while high - low > MINUTE:
                middle = low + (high - low) // 2
                middle = middle.replace(second=0, microsecond=0)
                if offset(middle) == offset(low):
                    low = middle
                else:
                    high = middle
            found.append(high)
        moment = later
    return found


# ------------------------------------------------------------- random crons


def _minute(rng: random.Random, near: list[int]) -> str:
    m = rng.choice([0, 0, 15, 30, 45, rng.randrange(60)])
    options = [
        str(m),
        "*",
        f"*/{rng.choice([5, 10, 15, 20, 30, 7, 45])}",
        f"{m},{(m + 30) % 60}",
        f"{min(m, 50)}-{min(m, 50) + rng.randrange(1, 10)}",
        f"{rng.randrange(30)}-{rng.randrange(30, 60)}/{rng.randrange(2, 25)}",
        f"{rng.randrange(20)}/{rng.choice([15, 20])}",
        "20-23/4",
    ]
    return rng.choice(options)


def _hour(rng: random.Random, near: list[int]) -> str:
    h = rng.choice(near)
    options = [
        str(h),
        str(h),
        "*",
        f"*/{rng.choice([2, 3, 5])}",
        ",".join(str(x) for x in sorted(set(near))),
        f"{min(near)}-{max(near)}",
        f"{(h + 23) % 24},{h},{(h + 1) % 24}",
        f"{rng.randrange(12)}-{rng.randrange(12, 24)}/{rng.randrange(2, 6)}",
        str(rng.randrange(24)),
        f"{h}/{rng.choice([2, 6])}",
    ]
    return rng.choice(options)


def _day_of_month(rng: random.Random, day: date) -> str:
    d = day.day
    options = [
        "*",
        "*",
        "*",
        "?",
        str(d),
        str(d % 28 + 1),
        f"{max(1, d - 1)}-{min(31, d + 1)}",
        "*/2",
        f"*/{rng.choice([3, 7, 10])}",
        "1,15",
        f"{d},{(d + 14) % 28 + 1}",
        f"{rng.randrange(1, 10)}/{rng.choice([2, 5])}",
        "31",
    ]
    return rng.choice(options)


def _month(rng: random.Random, day: date) -> str:
    m = day.month
    options = [
        "*",
        "*",
        "*",
        str(m),
        MONTHS[m - 1].upper(),
        f"{MONTHS[m - 1]}-dec",
        "*/2",
        f"{(m % 12) + 1}",
        "1,4,7,10",
        "2",
    ]
    return rng.choice(options)


def _day_of_week(rng: random.Random, day: date) -> str:
    w = (day.weekday() + 1) % 7
    options = [
        "*",
        "*",
        "*",
        "?",
        str(w),
        "7" if w == 0 else DAYS[w],
        "1-5",
        "mon-fri",
        "*/2",
        "1/2",
        "5-0",
        "0-7",
        "sat,sun",
        "0,7",
        f"{(w + 1) % 7}",
        "*/3",
    ]
    return rng.choice(options)


def random_cron(rng: random.Random, window: Window, center: datetime) -> str:
    zone = UTC if window.zone_name == "utc" else ZoneInfo(window.zone_name)
    near_hours = sorted(
        {(center + timedelta(minutes=k)).astimezone(zone).hour for k in (-61, -1, 0, 1, 61)}
    )
    day = center.astimezone(zone).date() + timedelta(days=rng.choice([0, 0, 0, -1, 1]))
    return " ".join(
        (
            _minute(rng, near_hours),
            _hour(rng, near_hours),
            _day_of_month(rng, day),
            _month(rng, day),
            _day_of_week(rng, day),
        )
    )


# -------------------------------------------------------------------- the test


def windows() -> list[tuple[Window, datetime]]:
    found: list[tuple[Window, datetime]] = []
    plan = [(name, YEARS[0], YEARS[-1]) for name in DST_ZONES] + list(HISTORICAL)
    for name, first, last in plan:
        for change in changes(name, first, last):
            found.append((Window.around(name, change - HALF_WINDOW, change + HALF_WINDOW), change))
    for name, start in STEADY:
        begin = start.replace(tzinfo=UTC)
        found.append((Window.around(name, begin, begin + timedelta(days=8)), begin))
    return found


def test_the_trigger_agrees_with_the_model_around_every_clock_change():
    rng = random.Random(SEED)
    cases = 0
    disagreements: list[str] = []
    for window, center in windows():
        zone_name = window.zone_name
        for _ in range(CRONS_PER_WINDOW):
            cron = random_cron(rng, window, center)
            try:
                trigger = cron_trigger({"cron": cron, "cron_timezone": zone_name})
            except Exception as error:  # only "never fires" may be refused
                assert "never fires" in str(getattr(error, "params", {}).get("message", "")), (
                    cron,
                    error,
                )
                continue
            expected = window.fires(Model.of(cron))
            # In UTC: two times on a zone's clock in a repeated hour compare equal (PEP 495).
            got = [t.astimezone(UTC) for t in fire_times(trigger, window.start, window.end)]
            cases += 1
            if got != expected:
                disagreements.append(
                    f"{cron!r} in {zone_name} from {window.start}: "
                    f"trigger {[t.isoformat() for t in got[:8]]} "
                    f"model {[t.isoformat() for t in expected[:8]]}"
                )
            questions = [center, center - MINUTE, center + MINUTE, center + timedelta(seconds=1)]
            questions += [
                window.start
                + timedelta(seconds=rng.randrange(int((window.end - window.start).total_seconds())))
                for _ in range(QUESTIONS_PER_CRON - len(questions))
            ]
            for now in questions:
                if not window.start <= now < window.end:
                    continue  # the model knows nothing of the time before the window
                cases += 1
                index = bisect.bisect_left(expected, now)
                answer = trigger.get_next_fire_time(None, now)
                answer = answer and answer.astimezone(UTC)
                if index < len(expected):
                    agree = answer == expected[index]
                else:
                    agree = answer is None or answer >= window.end
                if not agree:
                    disagreements.append(
                        f"{cron!r} in {zone_name}, next after {now.isoformat()}: trigger "
                        f"{answer and answer.isoformat()}, model "
                        f"{expected[index].isoformat() if index < len(expected) else 'none here'}"
                    )
    assert not disagreements, f"{len(disagreements)} of {cases}:\n" + "\n".join(disagreements[:20])
    assert cases >= 20_000, cases


def test_the_model_reads_the_examples_of_routes_md():
    """The model itself, on the contract's own examples (Europe/Berlin, 2026)."""
    spring = Window.around(
        "Europe/Berlin", datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 3, tzinfo=UTC)
    )
    assert [t.isoformat() for t in spring.fires(Model.of("30 2 * * *"))] == [
        "2026-03-29T01:00:00+00:00"  # 03:00 CEST, right after the jump
    ]
    assert spring.fires(Model.of("*/15 2 * * *")) == []
    autumn = Window.around(
        "Europe/Berlin",
        datetime(2026, 10, 24, 23, tzinfo=UTC),
        datetime(2026, 10, 25, 3, tzinfo=UTC),
    )
    assert len(autumn.fires(Model.of("*/15 2 * * *"))) == 8
    assert [t.isoformat() for t in autumn.fires(Model.of("0 */2 * * *"))] == [
        "2026-10-25T00:00:00+00:00",  # 02:00 CEST
        "2026-10-25T01:00:00+00:00",  # 02:00 CET
    ]
    assert len(autumn.fires(Model.of("30 2 * * *"))) == 1


def test_the_generator_only_writes_what_the_trigger_reads():
    """The random crons are valid crontab(5) (a refusal would shrink the test)."""
    rng = random.Random(SEED)
    window = Window.around(
        "utc", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 0, 1, tzinfo=UTC)
    )
    refused = 0
    for _ in range(2000):
        cron = random_cron(rng, window, window.start)
        try:
            cron_trigger({"cron": cron})
        except Exception as error:
            refused += 1
            assert isinstance(error, CronError) or "never fires" in str(error), cron
    assert refused < 20
