"""Requests the HTTP parser refuses, answered in the contract's error format.

uvicorn answers a request it cannot parse (a request line or headers past
llhttp's limit of about 64 KB, a malformed request line) itself, before any
route sees it, with a plain-text 400 and no Luna-Request-Id. Every error of
this service is the LUNA error body with a request id (ROUTES.md), so the
protocol is subclassed to write that instead: 400, error 12046.

Used by `luna-admin serve` when uvicorn runs on httptools (the default with
uvicorn[standard]); without httptools uvicorn's own answer stays.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from webapp.web.errors import LunaError

log = logging.getLogger("webapp.http")


def protocol_class() -> Any:
    """What `uvicorn.run(http=...)` gets: the subclass, or "auto" without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        return "auto"

    class LunaHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            from webapp.app import new_request_id  # late: webapp.app is big

            request_id = new_request_id()
            error = LunaError("BAD_HTTP_REQUEST", reason=msg.rstrip("."))
            body = json.dumps(error.body()).encode()
            log.info("refused unparsable request (%s), request id %s", msg, request_id)
            content = [STATUS_LINE[400]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"luna-request-id: " + request_id.encode("ascii") + b"\r\n",
                    b"connection: close\r\n",
                    b"\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(content))
            self.transport.close()

    return LunaHttpToolsProtocol
