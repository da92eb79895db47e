"""A real `luna-admin serve` against slow, odd and lying clients, on raw sockets.

What only the HTTP server shows: a request head or body trickled byte by byte
is cut off after REQUEST_READ_TIMEOUT (408); the server's own error answers
carry the LUNA body and the headers every answer carries; X-Forwarded-For
from the loopback is not believed (uvicorn's default would believe it); a path
cannot write a line of its own into the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ADMIN_LOGIN
from tests.support.processes import Server, start_server
from webapp import db

READ_TIMEOUT = 1.0


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory, schema: None) -> AsyncIterator[Server]:
    started = start_server(
        "edge",
        os.environ["DATABASE_URL"],
        tmp_path_factory.mktemp("edge"),
        LOG_LEVEL="info",
        REQUEST_READ_TIMEOUT=str(READ_TIMEOUT),
        WORKERS_IN_PROCESS="0",
        SCHEDULER_ENABLED="0",
    )
    try:
        await started.wait_until_up()
        yield started
    finally:
        started.stop()


class Answer:
    def __init__(self, raw: bytes, seconds: float) -> None:
        self.raw = raw
        self.seconds = seconds
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/") else 0
        self.headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }

    def json(self) -> Any:
        return json.loads(self.body)


async def exchange(server: Server, *parts: bytes, pause: float = 0.0) -> Answer:
    """Send `parts` on a new connection (`pause` seconds apart) while reading what comes
    back, until the server closes; the time from the first byte sent to that close.

    Reading runs beside the writing: a server that answers early and closes makes
    the next write fail, and what it had answered must have been read by then."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    received = bytearray()

    async def read_all() -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                received.extend(chunk)

    started = time.monotonic()
    reading = asyncio.create_task(read_all())
    with contextlib.suppress(ConnectionError):
        for part in parts:
            if reading.done():
                break  # answered and closed while we were still sending
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(pause)
    await asyncio.wait_for(reading, timeout=15)
    seconds = time.monotonic() - started
    writer.close()
    return Answer(bytes(received), seconds)


def assert_luna_error(answer: Answer, status: int, code: int) -> None:
    assert answer.status == status, answer.raw[:300]
    assert answer.json()["error_code"] == code
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-type"] == "application/json"
    assert "luna-request-id" in answer.headers
    assert answer.headers["connection"] == "close"


async def test_a_silent_connection_is_closed_after_the_read_timeout(client, server):
    answer = await exchange(server)
    assert_luna_error(answer, 408, 29225)
    assert READ_TIMEOUT <= answer.seconds < READ_TIMEOUT + 2


async def test_a_request_head_trickled_byte_by_byte_is_cut_off(client, server):
    head = b"GET /version HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 30
    answer = await exchange(server, *(bytes([byte]) for byte in head), pause=0.1)
    assert_luna_error(answer, 408, 29225)
    assert answer.seconds < 3.2  # not the 3 s the whole head would have taken and more


async def test_a_body_trickled_byte_by_byte_is_cut_off(client, server):
    head = (
        b"POST /login HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"
    )
    answer = await exchange(server, head, *(b"l" for _ in range(30)), pause=0.1)
    assert_luna_error(answer, 408, 29225)
    assert answer.seconds < 3.2


async def test_a_kept_alive_connection_has_the_same_timeout_for_its_next_head(client, server):
    first = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = await exchange(server, first, b"GET /ver", pause=0.2)
    assert answer.raw.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 408 " in answer.raw  # the second head never ended


async def test_a_chunked_body_past_the_limits_is_refused_while_sent(client, server):
    head = (
        b"POST /login HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    fields = b"&".join(b"f%d=v" % index for index in range(95_000))
    chunks = [
        b"%x\r\n%s\r\n" % (len(part), part)
        for part in (fields[i : i + 8192] for i in range(0, len(fields), 8192))
    ]
    answer = await exchange(server, head, *chunks, b"0\r\n\r\n")
    assert_luna_error(answer, 413, 29220)


async def test_the_server_s_own_answers_carry_the_luna_body_and_headers(client, server):
    for request in (
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",  # bytes past ASCII in the path
        b"NOT A REQUEST\r\n\r\n",
        b"GET /version HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n",
    ):
        assert_luna_error(await exchange(server, request), 400, 12046)


async def test_a_websocket_upgrade_is_answered_as_http(client, server):
    answer = await exchange(
        server,
        b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    assert answer.status == 200 and answer.headers["x-content-type-options"] == "nosniff"


async def test_paths_with_nul_are_refused_by_the_server(client, server):
    answer = await exchange(
        server, b"GET /static/css/app.css%00.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.status == 400 and answer.json()["error_code"] == 29227
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_forwarded_for_from_the_loopback_is_not_believed(client, server):
    request = (
        b"GET /4/accounts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Basic cm9vdEB2aXNpb25sYWJzLmFpOndyb25n\r\n"  # root@visionlabs.ai:wrong
        b"X-Forwarded-For: 198.51.100.7\r\nX-Real-IP: 198.51.100.8\r\n\r\n"
    )
    assert (await exchange(server, request)).status == 401
    rows = await db.fetch(
        "SELECT host(ip) AS ip FROM audit_event WHERE action = 'session.sign_in_failed'"
    )
    assert [row["ip"] for row in rows] == ["127.0.0.1"]
    throttled = await db.fetch("SELECT key FROM login_throttle WHERE key LIKE 'ip:%'")
    assert [row["key"] for row in throttled] == ["ip:127.0.0.1"]
    assert ADMIN_LOGIN  # the login guessed at is the default admin's


async def test_a_path_cannot_write_a_log_line_of_its_own(client, server):
    forged = "2026-12-03 01:11:00,000 INFO [-] webapp.http: GET / 200"
    path = "/x%0a" + forged.replace(" ", "%20") + "%0d%00%1b[2J"
    await exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await exchange(server, b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    for _ in range(50):  # the access line of the NUL path is written after its answer
        if "\\n2026-12-03 01:11:00,000" in server.log_text():
            break
        await asyncio.sleep(0.1)
    log = server.log_text()
    lines = log.splitlines()
    assert not any(line.startswith(forged[:30]) for line in lines), log[-2000:]
    assert "\r" not in log and "\x00" not in log and "\x1b" not in log
    assert any("/x\\n2026-12-03 01:11:00,000 INFO" in line for line in lines), log[-2000:]
