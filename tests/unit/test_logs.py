"""What a request sends cannot forge or hide log lines, in either log format."""

from __future__ import annotations

import io
import json
import logging

import pytest

from webapp import logs

FORGED = "/x\n2026-12-03 01:11:00,000 INFO [-] webapp.http: GET / 200\r\x00\x1b[2J\u2028end"


@pytest.fixture
def capture():
    """Run `logs.configure` on a buffer; give back a function returning what was written."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()

    def configure(fmt: str) -> None:
        logs.configure("info", fmt)
        root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]

    yield configure, buffer
    root.handlers[:], level = saved
    root.setLevel(level)


def test_escape_controls_leaves_ordinary_text_alone():
    assert logs.escape_controls("GET /accounts café ✓ \\n") == "GET /accounts café ✓ \\n"
    assert logs.escape_controls("a\nb\rc\x00d\te\x7f\x85\u2028") == (
        "a\\nb\\rc\\x00d\\te\\x7f\\x85\\u2028"
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_message_with_a_forged_line_stays_one_line(capture, fmt):
    configure, buffer = capture
    configure(fmt)
    logging.getLogger("webapp.http").info("%s %s %d", "GET", FORGED, 404)
    written = buffer.getvalue()
    assert written.count("\n") == 1, written
    for raw in ("\r", "\x00", "\x1b", "\u2028"):
        assert raw not in written
    message = json.loads(written)["message"] if fmt == "json" else written
    assert "/x\\n2026-12-03 01:11:00,000 INFO" in message
    assert "\\r\\x00\\x1b[2J\\u2028end" in message


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_exception_messages_are_escaped_but_tracebacks_keep_their_lines(capture, fmt):
    configure, buffer = capture
    configure(fmt)
    try:
        try:
            raise KeyError("inner\nforged line")
        except KeyError as inner:
            raise ValueError(f"bad value {FORGED!s}") from inner
    except ValueError:
        logging.getLogger("webapp.http").exception("unhandled error in GET %s", FORGED)
    written = buffer.getvalue()
    text = json.loads(written)["exception"] if fmt == "json" else written
    lines = text.splitlines()
    assert "Traceback (most recent call last):" in lines
    assert "The above exception was the direct cause of the following exception:" in lines
    assert any(line.startswith("ValueError: bad value /x\\n2026-12-03") for line in lines)
    assert any(line.startswith("KeyError: 'inner\\nforged line'") for line in lines)
    # No line begins with what the request wrote.
    assert not any(line.startswith(("2026-12-03 01:11", "forged")) for line in lines)
    for raw in ("\r", "\x00", "\x1b", "\u2028"):
        assert raw not in written
