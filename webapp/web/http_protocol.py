"""The HTTP server's own answers, in the contract's error format, and its read timeout.

uvicorn answers a request it cannot parse (a request line or headers past
llhttp's limit of about 64 KB, a malformed request line, bytes past ASCII in
the path) itself, before any route sees it, with a plain-text 400 and no
Luna-Request-Id. Every error of this service is the LUNA error body with a
request id (ROUTES.md), so the protocol is subclassed to write that instead:
400, error 12046, with the headers every answer carries.

uvicorn also waits for a request's head forever: a client that connects and
sends nothing, or one byte now and then (slow loris), holds its connection
for good. The subclass gives the head REQUEST_READ_TIMEOUT seconds from the
connection (or from the previous answer on a kept-alive connection), then
answers 408 (error 29225) and closes. The body has the same time, counted by
webapp/web/request_limits.py.

And uvicorn closes a connection at once, even when the client is still sending a
body the service refused early (413 for a form too large, 408): the kernel then
resets the connection, and the client can lose the answer in the reset. The
subclass closes the way a server should ("lingering close"): the answer is
sent, the sending side is shut (FIN), and what the client still sends is read
and dropped, for at most LINGER_SECONDS or LINGER_BYTES, before the socket
closes.

Used by `luna-admin serve` when uvicorn runs on httptools (the default with
uvicorn[standard]); without httptools uvicorn's own answers and waits stay.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from webapp.web.errors import LunaError
from webapp.web.security_headers import ALWAYS

log = logging.getLogger("webapp.http")

LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024


class LingeringTransport:
    """The connection's transport, whose close() lingers (see the module's docstring);
    everything else is the real transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self.lingering = False
        self.dropped = 0

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        if not self._transport.can_write_eof():  # TLS: no half-close
            self._transport.close()
            return
        self.lingering = True
        self._transport.write_eof()
        self._transport.resume_reading()  # uvicorn may have paused it under a big body
        self._timer = self._loop.call_later(LINGER_SECONDS, self._transport.close)

    def drop(self, data: bytes) -> None:
        """What the client sends while the connection lingers: read and forgotten."""
        self.dropped += len(data)
        if self.dropped > LINGER_BYTES:
            self._transport.close()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.lingering:
            self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol_class(read_timeout: float) -> Any:
    """What `uvicorn.run(http=...)` gets: the subclass, or "auto" without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        return "auto"

    class LunaHttpToolsProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None
        transport: Any

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.transport = LingeringTransport(transport, self.loop)
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            self.transport.stop()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.transport.lingering:
                self.transport.drop(data)
                return
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._cancel_head_timer()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head_timer()

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._head_timer = self.loop.call_later(read_timeout, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request is being answered; its body has its own deadline
            error = LunaError("REQUEST_TIMEOUT", seconds=f"{read_timeout:g}")
            self._answer(408, error, f"request head not received within {read_timeout:g} s")

        def send_400_response(self, msg: str) -> None:
            error = LunaError("BAD_HTTP_REQUEST", reason=msg.rstrip("."))
            self._answer(400, error, f"refused unparsable request ({msg})")

        def _answer(self, status: int, error: LunaError, why: str) -> None:
            """Write `error` as the whole answer and close the connection."""
            from webapp.app import new_request_id  # late: webapp.app is big

            request_id = new_request_id()
            log.info("%s, request id %s", why, request_id)
            body = json.dumps(error.body()).encode()
            content = [STATUS_LINE[status]]
            headers = [
                *self.server_state.default_headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                *ALWAYS,
                (b"luna-request-id", request_id.encode("ascii")),
                (b"connection", b"close"),
            ]
            for name, value in headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend([b"\r\n", body])
            self.transport.write(b"".join(content))
            self.transport.close()

    return LunaHttpToolsProtocol
