"""Paths no route can mean, refused before routing: 400 with error BAD_PATH.

A path with NUL (no file name or database text can hold it: the static files
answered 500), with a `%` not followed by two hex digits, or whose
percent-decoded bytes are not UTF-8 (the server would turn them into U+FFFD,
another path than the one sent) is refused for every route alike.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def path_problem(scope: dict[str, Any]) -> str | None:
    """Why the request's path is refused, or None for a path routes may see."""
    path: str = scope.get("path", "")
    raw = scope.get("raw_path")
    if raw is None:
        raw = path.encode("utf-8", "surrogateescape")
    if "\x00" in path or b"\x00" in raw:
        return "it contains a NUL character"
    if b"%" not in raw:
        return None
    if _BAD_PERCENT.search(raw):
        return "'%' must be followed by two hexadecimal digits"
    decoded = unquote_to_bytes(raw)
    if b"\x00" in decoded:
        return "it contains a NUL character"
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "its percent-encoded bytes are not UTF-8"
    return None
