"""Query and path parameters, parsed by hand so every bad value names itself:
400, error 12012 "Bad query parameters '<name>'".
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request

from webapp.web.errors import LunaError

UUID_RE = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")

MAX_PAGE = 1_000_000
"""Beyond this, OFFSET paging is pointless and expensive; the value is refused."""


def parse_uuid(value: str, name: str) -> uuid.UUID:
    """A lower-case hyphenated UUID, the only form the reference accepts."""
    if not UUID_RE.fullmatch(value):
        raise LunaError("BAD_QUERY_PARAM", name=name)
    return uuid.UUID(value)


def parse_id(value: str, name: str) -> int:
    """A positive integer id from a path (task, error, schedule)."""
    if not re.fullmatch(r"[0-9]{1,18}", value) or int(value) < 1:
        raise LunaError("BAD_QUERY_PARAM", name=name)
    return int(value)


def parse_time(value: str, name: str) -> datetime:
    """ISO 8601 with a zone ('Z' or an offset), as a UTC time.

    A naive time is ambiguous and refused; so is a time that leaves years 1-9999
    when it is converted to UTC (0001-01-01T00:00:00+14:00 is in year 0), which
    neither Python nor the database driver can carry.
    """
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("no zone")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise LunaError("BAD_QUERY_PARAM", name=name) from None


@dataclass(frozen=True)
class Page:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Query:
    """Typed access to a request's query string."""

    def __init__(self, request: Request[Any, Any, Any]) -> None:
        self._params = request.query_params

    def raw(self, name: str) -> str | None:
        values = self._params.getall(name, [])
        if not values:
            return None
        if len(values) > 1:
            # `page=1&page=9`: which one was meant? Refused rather than guessed.
            raise LunaError("BAD_QUERY_PARAM", name=name)
        value = values[0]
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL; no parameter of ours needs it.
            raise LunaError("BAD_QUERY_PARAM", name=name)
        return str(value)

    def text(self, name: str, default: str = "", max_length: int = 256) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if len(value) > max_length:
            raise LunaError("BAD_QUERY_PARAM", name=name)
        return value

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        choices: set[int] | None = None,
    ) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if not re.fullmatch(r"-?[0-9]{1,18}", value):
            raise LunaError("BAD_QUERY_PARAM", name=name)
        number = int(value)
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise LunaError("BAD_QUERY_PARAM", name=name)
        if choices is not None and number not in choices:
            raise LunaError("BAD_QUERY_PARAM", name=name)
        return number

    def required_text(self, name: str, max_length: int = 256) -> str:
        value = self.raw(name)
        if value is None:
            raise LunaError("MISSING_QUERY_PARAM", name=name)
        return self.text(name, max_length=max_length)

    def int_list(self, name: str, minimum: int = 1, max_items: int = 1000) -> list[int] | None:
        """A comma-separated list of integers (`task_ids=1,2,3`)."""
        value = self.raw(name)
        if value is None or value == "":
            return None
        parts = value.split(",")
        if len(parts) > max_items or not all(re.fullmatch(r"[0-9]{1,18}", p) for p in parts):
            raise LunaError("BAD_QUERY_PARAM", name=name)
        numbers = [int(p) for p in parts]
        if any(n < minimum for n in numbers):
            raise LunaError("BAD_QUERY_PARAM", name=name)
        return numbers

    def uuid(self, name: str) -> uuid.UUID | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        return parse_uuid(value, name)

    def time(self, name: str) -> datetime | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        return parse_time(value, name)

    def page(self, default_size: int = 10) -> Page:
        page = self.integer("page", 1, minimum=1, maximum=MAX_PAGE)
        size = self.integer("page_size", default_size, minimum=1, maximum=1000)
        assert page is not None and size is not None
        return Page(page=page, page_size=size)

    def time_range(self, field: str) -> tuple[datetime | None, datetime | None]:
        """`<field>__gte` (inclusive) and `<field>__lt` (exclusive)."""
        return self.time(f"{field}__gte"), self.time(f"{field}__lt")


def page_url(request: Request[Any, Any, Any], path: str, drop: tuple[str, ...] = ()) -> str:
    """`path` with the request's non-empty query parameters, less `drop` (a list
    page's own address for its poller, its pagination base without the paging)."""
    query = urlencode(
        [(key, value) for key, value in request.query_params.items() if value and key not in drop]
    )
    return f"{path}?{query}" if query else path
