"""Logging: every line carries the Luna-Request-Id of the request it belongs to.

Log messages carry what requests send (paths, headers, logins, user agents,
query values, exception messages). The formatters escape control characters in
all of it, in one place, so a request can neither write a line of its own
(`%0a` in a path) nor hide in one (CR, NUL, terminal escapes): a record is one
line, except for the structural line breaks of a traceback.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import traceback
from types import TracebackType

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("luna_request_id", default="-")

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def escape_controls(text: str) -> str:
    """`text` with every control character (C0, DEL, C1, the Unicode line and
    paragraph separators) written as an escape: `\\n`, `\\x00`, `\\u2028`."""
    return _CONTROL.sub(_escaped, text) if _CONTROL.search(text) else text


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def format_exception(exc_info: ExcInfo) -> str:
    """A traceback whose exception messages are escaped; its frames (our source
    lines) and the chaining sentences keep their line breaks."""
    return "".join(_chain(traceback.TracebackException(*exc_info))).rstrip("\n")


def _chain(exc: traceback.TracebackException) -> list[str]:
    parts: list[str] = []
    if exc.__cause__ is not None:
        parts += _chain(exc.__cause__)
        parts.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif exc.__context__ is not None and not exc.__suppress_context__:
        parts += _chain(exc.__context__)
        parts.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if exc.stack:
        parts.append("Traceback (most recent call last):\n")
        parts.extend(
            "\n".join(escape_controls(line) for line in frame.split("\n"))
            for frame in exc.stack.format()
        )
    parts.extend(escape_controls(line.rstrip("\n")) + "\n" for line in exc.format_exception_only())
    return parts


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """One line per record: `<time> <level> [<request id>] <logger>: <message>`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        record.asctime = self.formatTime(record)
        line = self.formatMessage(record)
        if record.exc_info and record.exc_info[1] is not None:
            line += "\n" + format_exception(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": escape_controls(record.getMessage()),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = format_exception(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours (which has the request id).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
