"""The zones a schedule's `cron_timezone` may name.

`utc` (any case: `UTC`, `utc` as in the reference), `local` (the zone of the
server process), or a zone of the IANA list the schedule form offers, spelled
as IANA spells it (`Europe/Berlin`). Not a file of the zone directory that is
no IANA zone: `localtime` (whatever the machine is set to), `posixrules`, and
the `posix/` and `right/` trees (`right/` counts leap seconds, so every fire
would be some 27 seconds off, all year).
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

UTC_NAME = "utc"
LOCAL_NAME = "local"
NOT_ZONES = frozenset({"localtime", "posixrules"})
"""Files of the zone directory that name no IANA zone."""


class ZoneError(ValueError):
    """A `cron_timezone` that names no zone the service accepts."""


@cache
def iana_names() -> frozenset[str]:
    return frozenset(
        name
        for name in available_timezones()
        if name not in NOT_ZONES and not name.startswith(("posix/", "right/"))
    )


def zone_names() -> list[str]:
    """What the form's zone field offers, and all it accepts: utc, local, then
    every IANA zone."""
    return [UTC_NAME, LOCAL_NAME, *sorted(iana_names())]


def zone(name: str) -> tzinfo:
    """The zone `name` names; ZoneError if none."""
    lowered = name.lower()
    if lowered == UTC_NAME:
        return UTC
    if lowered == LOCAL_NAME:
        from tzlocal import get_localzone  # reads the machine's settings: only when asked

        return get_localzone()
    if name in iana_names():
        return ZoneInfo(name)
    if not name:
        raise ZoneError("the time zone is empty: use utc, local or an IANA zone name")
    shown = name if len(name) <= 64 else f"{name[:64]}..."
    if lowered.startswith(("posix/", "right/")):
        raise ZoneError(f"'{shown}' is not accepted: use the IANA name '{name[6:70]}'")
    if name in NOT_ZONES:
        raise ZoneError(f"'{shown}' is not an IANA zone: use local, utc or a zone name")
    raise ZoneError(f"unknown time zone '{shown}'")
