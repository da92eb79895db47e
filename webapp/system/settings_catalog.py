"""The settings kept in the database: their names, types, ranges and defaults.

The table (`setting`) holds the values; this catalogue says what a value may
be, so the settings page and `PATCH /{api}/settings/{name}` refuse a bad value
with its reason before anything is stored. The migration that created the
table seeds the same defaults (a test compares them); a setting added here
later is inserted with its default when the service starts.

Only settings something reads belong here: ROUTE_STATS_RETENTION_MONTHS is
read by the statistics flusher, the LICENSE_* settings make `license_info` of
GET /{api}/luna_sys_info and the license card of the system page. The version
of new descriptors is not a setting: it is the extraction backend's
(EXTRACTION_BACKEND), which can produce only its own.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webapp.web.errors import LunaError

EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""A licence does not expire before the Unix epoch; a year such as 0999 is a typo."""


class Kind(enum.Enum):
    INTEGER = "integer"
    """A whole number in [minimum, maximum]."""
    INTEGER_OR_NULL = "integer or null"
    """A whole number in [minimum, maximum], or null (not in the license)."""
    TIME_OR_NULL = "time or null"
    """An ISO 8601 time with a zone, or null."""


@dataclass(frozen=True)
class SettingSpec:
    name: str
    kind: Kind
    default: Any
    description: str
    tags: tuple[str, ...]
    minimum: int = 0
    maximum: int = 10**12

    @property
    def nullable(self) -> bool:
        return self.kind in (Kind.INTEGER_OR_NULL, Kind.TIME_OR_NULL)

    @property
    def rule(self) -> str:
        """What a value may be, in words (shown beside the field and in errors)."""
        if self.kind is Kind.TIME_OR_NULL:
            return (
                "an ISO 8601 time with a zone (2027-01-31T00:00:00Z) from 1970 to 9999 "
                "in UTC, or empty for null"
            )
        span = f"a whole number from {self.minimum:,} to {self.maximum:,}"
        return f"{span}, or empty for null" if self.nullable else span

    def check(self, value: Any) -> Any:
        """The value to store (times normalised to UTC), or 400 12022 with the reason."""
        if value is None:
            if self.nullable:
                return None
            raise self._refuse("null is not allowed")
        if self.kind is Kind.TIME_OR_NULL:
            return self._check_time(value)
        # bool is an int in Python, but `true` is not a number of faces.
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._refuse(f"{json.dumps(value)[:60]} is not a whole number")
        if not self.minimum <= value <= self.maximum:
            raise self._refuse(f"{value} is out of range")
        return value

    def parse_text(self, text: str) -> Any:
        """A value typed into the settings page's field (empty means null)."""
        text = text.strip()
        if text == "" or text.lower() == "null":
            return self.check(None)
        if self.kind is Kind.TIME_OR_NULL:
            return self.check(text)
        if not re.fullmatch(r"-?[0-9]{1,18}", text):
            raise self._refuse(f"'{text[:60]}' is not a whole number")
        return self.check(int(text))

    def as_text(self, value: Any) -> str:
        """A stored value as the settings page's field shows it."""
        return "" if value is None else str(value)

    def _check_time(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self._refuse(f"{json.dumps(value)[:60]} is not a time")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self._refuse(f"'{value[:60]}' is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise self._refuse(f"'{value[:60]}' has no time zone")
        try:
            utc = parsed.astimezone(UTC)
        except OverflowError:
            raise self._refuse(f"'{value[:60]}' is out of range in UTC") from None
        if utc < EARLIEST_TIME:
            raise self._refuse(f"'{value[:60]}' is before {EARLIEST_TIME.year}")
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _refuse(self, reason: str) -> LunaError:
        return LunaError(
            "JSON_VALIDATION", path="value", message=f"{self.name}: {reason}; expected {self.rule}"
        )


def _license(name: str, description: str, maximum: int = 10**12) -> SettingSpec:
    return SettingSpec(name, Kind.INTEGER_OR_NULL, None, description, ("license",), maximum=maximum)


CATALOGUE: tuple[SettingSpec, ...] = (
    SettingSpec(
        "ROUTE_STATS_RETENTION_MONTHS",
        Kind.INTEGER,
        24,
        "Months of route statistics kept, the current one included; older months are deleted.",
        ("statistics",),
        minimum=1,
        maximum=120,
    ),
    SettingSpec(
        "LICENSE_EXPIRATION_TIME",
        Kind.TIME_OR_NULL,
        None,
        "When the license expires (ISO 8601 with a zone); null: the license sets no expiration.",
        ("license",),
    ),
    _license("LICENSE_FACES_LIMIT", "Faces the license allows; null: not in the license."),
    _license(
        "LICENSE_LIVENESS",
        "Liveness version the license allows (0: none, 1 or 2); null: not in the license.",
        maximum=2,
    ),
    _license(
        "LICENSE_LIVENESS_BALANCE", "Liveness checks left on the license; null: not in the license."
    ),
    _license(
        "LICENSE_STREAMS_LIMIT", "Video streams the license allows; null: not in the license."
    ),
    _license(
        "LICENSE_ANALYTICS_STREAMS_LIMIT",
        "Video analytics streams the license allows; null: not in the license.",
    ),
    _license(
        "LICENSE_ISO",
        "ISO image checks: 1 licensed, 0 not; null: not in the license.",
        maximum=1,
    ),
    _license(
        "LICENSE_BODY_ATTRIBUTES",
        "Body attributes estimation: 1 licensed, 0 not; null: not in the license.",
        maximum=1,
    ),
    _license(
        "LICENSE_INDEX",
        "Index (fast matching) module: 1 licensed, 0 not; null: not in the license.",
        maximum=1,
    ),
    _license(
        "LICENSE_PEOPLE_COUNTER",
        "People counter: 1 licensed, 0 not; null: not in the license.",
        maximum=1,
    ),
    _license("LICENSE_LAMBDAS", "Lambdas the license allows; null: not in the license."),
    _license(
        "LICENSE_DEEPFAKE",
        "Deepfake detection: 1 licensed, 0 not; null: not in the license.",
        maximum=1,
    ),
)

BY_NAME: dict[str, SettingSpec] = {spec.name: spec for spec in CATALOGUE}

LICENSE_FIELDS: dict[str, str] = {
    "expiration_time": "LICENSE_EXPIRATION_TIME",
    "faces_limit": "LICENSE_FACES_LIMIT",
    "liveness": "LICENSE_LIVENESS",
    "liveness_balance": "LICENSE_LIVENESS_BALANCE",
    "streams_limit": "LICENSE_STREAMS_LIMIT",
    "analytics_streams_limit": "LICENSE_ANALYTICS_STREAMS_LIMIT",
    "iso": "LICENSE_ISO",
    "body_attributes": "LICENSE_BODY_ATTRIBUTES",
    "index": "LICENSE_INDEX",
    "people_counter": "LICENSE_PEOPLE_COUNTER",
    "lambdas": "LICENSE_LAMBDAS",
    "deepfake": "LICENSE_DEEPFAKE",
}
"""`license_info` field -> the setting holding its value, in the reference's order."""
