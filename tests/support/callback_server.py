"""Local HTTP servers that stand in for callback endpoints and the Telegram Bot API.

They run on 127.0.0.1 at a free port, in the test's own event loop, and speak
just enough HTTP/1.1 (keep-alive, Content-Length bodies) for httpx. Every
request is recorded with its method, path, headers, body, arrival time and
the status it was answered with. A test can make the next requests fail
(`fail_next`) or hang without answering (`hang_next`).

    async with CallbackServer() as server:
        ...  # point a callback at f"{server.url}/hook"
        await server.wait_for(1)
        assert server.requests[0].json() == {...}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

REASONS = {
    200: "OK",
    302: "Found",
    401: "Unauthorized",
    404: "Not Found",
    500: "Internal Server Error",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Names lower-cased."""
    body: bytes
    time: float
    """time.monotonic() when the request had fully arrived."""
    status: int | None = None
    """What the server answered (None: it never answered)."""

    def json(self) -> Any:
        return json.loads(self.body)


class CallbackServer:
    """Records every request; answers 200 `{"ok": true}` unless told otherwise."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.delay = 0.0
        """Seconds to wait before each answer (to make concurrent senders overlap)."""
        self._fail_remaining = 0
        self._fail_status = 500
        self._hang_remaining = 0
        self._redirect_remaining = 0
        self._redirect_location = ""
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` requests with `status`."""
        self._fail_remaining = count
        self._fail_status = status

    def redirect_next(self, count: int, location: str) -> None:
        """Answer the next `count` requests 302 Found with `Location: location`."""
        self._redirect_remaining = count
        self._redirect_location = location

    def hang_next(self, count: int) -> None:
        """Never answer the next `count` requests (until the server stops)."""
        self._hang_remaining = count

    async def wait_for(self, count: int, within: float = 10.0) -> list[RecordedRequest]:
        """Wait until at least `count` requests have arrived (at most `within` seconds)."""
        deadline = time.monotonic() + within
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} requests arrived, expected {count}")
            await asyncio.sleep(0.01)
        return self.requests

    async def start(self) -> CallbackServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> CallbackServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def respond(self, request: RecordedRequest) -> tuple[int, Any]:
        """The status and JSON body of a normal answer; subclasses imitate real APIs."""
        return 200, {"ok": True}

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        request_line = await reader.readline()
        if not request_line.strip():
            return False
        method, path, _ = request_line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        request = RecordedRequest(method, path, headers, body, time.monotonic())
        self.requests.append(request)

        if self._hang_remaining > 0:
            self._hang_remaining -= 1
            await asyncio.sleep(3600)  # cancelled by stop()
        if self.delay:
            await asyncio.sleep(self.delay)
        extra = ""
        if self._redirect_remaining > 0:
            self._redirect_remaining -= 1
            status, answer = 302, {"moved": self._redirect_location}
            extra = f"Location: {self._redirect_location}\r\n"
        elif self._fail_remaining > 0:
            self._fail_remaining -= 1
            status, answer = self._fail_status, {"error": "failing as told"}
        else:
            status, answer = self.respond(request)
        request.status = status
        payload = json.dumps(answer).encode()
        writer.write(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
            f"{extra}"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: keep-alive\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        return True


SEND_MESSAGE = re.compile(r"^/bot(?P<token>[^/]+)/sendMessage$")


class FakeTelegramApi(CallbackServer):
    """Answers `POST /bot<token>/sendMessage` as the Bot API does."""

    def __init__(self) -> None:
        super().__init__()
        self.rejected_tokens: set[str] = set()
        """Tokens answered 401 Unauthorized, as Telegram answers a revoked bot token."""

    def respond(self, request: RecordedRequest) -> tuple[int, Any]:
        match = SEND_MESSAGE.match(request.path)
        if request.method != "POST" or match is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        if match["token"] in self.rejected_tokens:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        message = request.json()
        return 200, {
            "ok": True,
            "result": {
                "message_id": len(self.requests),
                "chat": {"id": message.get("chat_id")},
                "date": int(time.time()),
                "text": message.get("text"),
            },
        }

    @property
    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """(token, sendMessage body) of every sendMessage request, in arrival order."""
        found = []
        for request in self.requests:
            match = SEND_MESSAGE.match(request.path)
            if match is not None:
                found.append((match["token"], request.json()))
        return found
