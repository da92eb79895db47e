"""Limits on what a request may send, checked while it is read, before any parsing.

A body costs the event loop what its parsing costs: a 1 MB form of 95,000
fields took half a second to parse, during which nothing else was answered.
So every body is bounded before any of it is converted:

- total size: JSON (and any other body) BODY_MAX_BYTES, forms FORM_MAX_BYTES;
  a Content-Length above the limit is refused before a byte is read, a body
  without one (chunked) as soon as it passes the limit;
- forms: at most FORM_MAX_FIELDS fields, each at most FORM_MAX_FIELD_BYTES
  (urlencoded: counted on the raw bytes between `&`; multipart: parts counted
  by their boundary), at most FORM_MAX_NESTING parts in a dotted field name;
- JSON: at most JSON_MAX_ITEMS commas and opening brackets (an upper bound of its
  values, counted at C speed before parsing), nesting at most JSON_MAX_DEPTH;
- time: the whole body within the setting REQUEST_READ_TIMEOUT of the request's
  start; a body trickled byte by byte is cut off with 408.

`BodyReader` wraps the ASGI `receive` of every request (LunaLitestar), so the
limits hold for every reader of bodies: ours, Litestar's form and multipart
parsers, anything added later. Refusals close the connection (`Connection:
close`), so the unread rest of the body is never read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from webapp.web.errors import LunaError

BODY_MAX_BYTES = 1024 * 1024
FORM_MAX_BYTES = 256 * 1024
FORM_MAX_FIELDS = 256
FORM_MAX_FIELD_BYTES = 128 * 1024
"""A JSON policy typed into a page's textarea is the largest field the pages post."""
FORM_MAX_NESTING = 8
JSON_MAX_ITEMS = 10_000
JSON_MAX_DEPTH = 32

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def _media_type(content_type: bytes) -> tuple[str, str]:
    """(media type lower-cased, multipart boundary) of a Content-Type value."""
    kind, _, params = content_type.decode("latin-1").partition(";")
    boundary = ""
    for param in params.split(";"):
        key, _, raw = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = raw.strip().strip('"')
    return kind.strip().lower(), boundary


CLOSE = {"Connection": "close"}


class BodyReader:
    """`receive` with the limits: raises LunaError (answered by the handler's error
    path) as soon as the body breaks one."""

    def __init__(self, scope: dict[str, Any], receive: Any, timeout: float) -> None:
        self._receive = receive
        self._deadline = asyncio.get_running_loop().time() + timeout
        self._timeout = timeout
        length, chunked, content_type = b"", False, b""
        for name, value in scope.get("headers", ()):  # one pass: every request pays it
            if name == b"content-length":
                length = value.strip()
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
        self.kind, boundary = _media_type(content_type) if content_type else ("", "")
        self._limit = FORM_MAX_BYTES if self.kind in (URLENCODED, MULTIPART) else BODY_MAX_BYTES
        self._announced = int(length) if length.isdigit() else 0
        self._delimiter = b"--" + boundary.encode("latin-1") if boundary else b""
        self.complete = not (chunked or self._announced)
        self.received = 0
        self._fields = 0
        self._field_bytes = 0
        self._tail = b""
        self._part_start = 0

    def announced_error(self) -> LunaError | None:
        """413 for a Content-Length above the limit of the body's type, before reading it."""
        if self._announced > self._limit:
            return LunaError("BODY_TOO_LARGE", limit=self._limit, headers=CLOSE)
        return None

    async def __call__(self) -> Any:
        if self.complete:
            return await self._receive()  # after the body: a disconnect, whenever it comes
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            seconds = f"{self._timeout:g}"
            raise LunaError("REQUEST_TIMEOUT", seconds=seconds, headers=CLOSE) from None
        if message["type"] == "http.disconnect":
            raise LunaError("BODY_INCOMPLETE", headers=CLOSE)
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                self._check(chunk)
            self.complete = not message.get("more_body", False)
        return message

    def _check(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self._limit:
            raise LunaError("BODY_TOO_LARGE", limit=self._limit, headers=CLOSE)
        if self.kind == URLENCODED:
            self._check_urlencoded(chunk)
        elif self.kind == MULTIPART and self._delimiter:
            self._check_multipart(chunk)

    def _too_many_fields(self) -> LunaError:
        return LunaError("FORM_TOO_MANY_FIELDS", limit=FORM_MAX_FIELDS, headers=CLOSE)

    def _too_large_field(self) -> LunaError:
        return LunaError("FORM_FIELD_TOO_LARGE", limit=FORM_MAX_FIELD_BYTES, headers=CLOSE)

    def _check_urlencoded(self, chunk: bytes) -> None:
        separators = chunk.count(b"&")
        if self._fields + separators >= FORM_MAX_FIELDS:  # fields = separators + 1
            raise self._too_many_fields()
        self._fields += separators
        pieces = chunk.split(b"&")  # at most FORM_MAX_FIELDS pieces, checked above
        longest = max([self._field_bytes + len(pieces[0]), *(len(piece) for piece in pieces[1:])])
        if longest > FORM_MAX_FIELD_BYTES:
            raise self._too_large_field()
        self._field_bytes = len(pieces[-1]) if len(pieces) > 1 else self._field_bytes + len(chunk)

    def _check_multipart(self, chunk: bytes) -> None:
        # A delimiter may straddle two chunks: search the end of the last one too.
        start = self.received - len(chunk) - len(self._tail)
        data = self._tail + chunk
        at = data.find(self._delimiter)
        while at != -1:
            self._fields += 1
            if self._fields > FORM_MAX_FIELDS + 1:  # the closing delimiter ends the last part
                raise self._too_many_fields()
            if start + at - self._part_start > FORM_MAX_FIELD_BYTES:
                raise self._too_large_field()
            self._part_start = start + at
            at = data.find(self._delimiter, at + len(self._delimiter))
        if self.received - self._part_start > FORM_MAX_FIELD_BYTES:
            raise self._too_large_field()
        self._tail = data[-(len(self._delimiter) - 1) :] if len(self._delimiter) > 1 else b""


def load_json(raw: bytes | str) -> Any:
    """JSON within JSON_MAX_ITEMS and JSON_MAX_DEPTH; ValueError when it is not JSON,
    LunaError when it is too big to parse.

    The items are counted before parsing (commas and opening brackets, also those
    inside strings: an upper bound, which no body of the API comes near), so the
    parser never works on more; the depth is measured on what was parsed.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    brackets = data.count(b"[") + data.count(b"{")
    if brackets + data.count(b",") > JSON_MAX_ITEMS:
        raise LunaError("JSON_TOO_MANY_ITEMS", limit=JSON_MAX_ITEMS)
    try:
        value = json.loads(raw)
    except RecursionError:
        raise LunaError("JSON_TOO_DEEP", limit=JSON_MAX_DEPTH) from None
    if brackets > JSON_MAX_DEPTH and _depth_exceeds(value, JSON_MAX_DEPTH):
        raise LunaError("JSON_TOO_DEEP", limit=JSON_MAX_DEPTH)
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, (dict, list))
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not any(isinstance(item, (dict, list)) for item in level):
            return False
    return any(isinstance(item, (dict, list)) for item in level)
