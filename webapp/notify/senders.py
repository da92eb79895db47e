"""Delivering one notification: the only code here that talks to the outside.

`Sender` is the interface the dispatcher uses. `HttpSender` and
`TelegramSender` do the real work, `CallbackSender` picks one by the
callback's type, and `RecordingSender` stands in for them in tests.

Every failure (refused connection, timeout, an answer other than 2xx,
Telegram's `"ok": false`, a destination the outbound rules refuse) is a
`DeliveryError` whose reason is short, safe to store and log: it never
contains a password or a bot token.

Requests go through webapp/outbound/client.py: every address a name resolves
to is checked and the connection made to the checked address; redirects are
not followed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from webapp.notify.policy import DEFAULT_CONTENT_TYPE, DEFAULT_TIMEOUT
from webapp.outbound.client import AddressRefused, outbound_client
from webapp.redaction import MASK, scrub, secret_values
from webapp.settings import Settings
from webapp.system.plugins import register as register_plugin
from webapp.tasks.states import TYPE_NAMES

# Headers the HTTP client computes itself; a policy may not override them.
_MANAGED_HEADERS = frozenset({"content-length", "host", "transfer-encoding", "connection"})
# How much of an answer is read: enough for an error message, not a download.
_READ_LIMIT = 64 * 1024
_SNIPPET = 200

STATUS_PHRASES = {
    0: "is pending",
    1: "is in progress",
    2: "was cancelled",
    3: "has failed",
    4: "is collecting results",
    5: "is done",
}
TELEGRAM_TEXT_LIMIT = 4096


class DeliveryError(Exception):
    """A notification was not delivered; `reason` says why (no secrets in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sender(Protocol):
    async def send(self, callback: dict[str, Any], payload: dict[str, Any]) -> None:
        """Deliver `payload` as `callback` says, or raise DeliveryError."""
        ...


def callback_timeout(callback: Mapping[str, Any]) -> float:
    """Seconds one delivery of this callback may take (params.timeout, default 60)."""
    params = callback.get("params")
    value = params.get("timeout") if isinstance(params, Mapping) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(DEFAULT_TIMEOUT)


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else "")


async def _post(
    client: httpx.AsyncClient, url: str, seconds: float, **kwargs: Any
) -> tuple[int, bytes]:
    """POST and return (status, the start of the body); failures become DeliveryError.

    httpx's timeout bounds each phase (connect, each read); asyncio.timeout
    bounds the whole exchange, so an endpoint trickling bytes cannot hold a
    delivery past its timeout either.
    """
    try:
        async with asyncio.timeout(seconds):
            async with client.stream("POST", url, timeout=seconds, **kwargs) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= _READ_LIMIT:
                        break
                return response.status_code, body[:_READ_LIMIT]
    except (TimeoutError, httpx.TimeoutException):
        raise DeliveryError(f"no answer within {seconds:g} s") from None
    except AddressRefused as exc:
        raise DeliveryError(f"refused: {exc}") from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise DeliveryError(f"request failed: {type(exc).__name__}: {detail}") from None


class HttpSender:
    """POSTs the payload as JSON to the callback's URL, through `client`."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, callback: dict[str, Any], payload: dict[str, Any]) -> None:
        url = callback.get("url")
        if not isinstance(url, str) or not url:
            raise DeliveryError("the http callback has no url")
        raw_params = callback.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        headers = {
            str(name): str(value)
            for name, value in (params.get("headers") or {}).items()
            if str(name).lower() not in _MANAGED_HEADERS and str(name).lower() != "content-type"
        }
        headers["Content-Type"] = params.get("content_type") or DEFAULT_CONTENT_TYPE
        auth = None
        authorization = callback.get("authorization")
        if isinstance(authorization, dict) and authorization.get("type") == "basic":
            auth = httpx.BasicAuth(
                str(authorization.get("login", "")), str(authorization.get("password", ""))
            )
        status, body = await _post(
            self.client,
            url,
            callback_timeout(callback),
            content=json.dumps(payload).encode(),
            headers=headers,
            auth=auth,
        )
        if not 200 <= status < 300:
            snippet = _snippet(body)
            raise DeliveryError(f"answered HTTP {status}" + (f": {snippet}" if snippet else ""))


def telegram_text(payload: Mapping[str, Any]) -> str:
    """A line a person reads in a chat, e.g. "luna-admin: task 12 (gc) is done"."""
    task_id = payload.get("task_id")
    if "subtask_id" in payload:
        status = payload.get("subtask_status")
        phrase = STATUS_PHRASES.get(status, f"has status {status}")  # type: ignore[arg-type]
        text = (
            f"luna-admin: task {task_id}, subtask {payload['subtask_id']} {phrase} "
            f"({payload.get('count_task_parts_done')} of "
            f"{payload.get('count_task_parts_all')} parts done)"
        )
    else:
        status = payload.get("task_status")
        kind = payload.get("task_type")
        phrase = STATUS_PHRASES.get(status, f"has status {status}")  # type: ignore[arg-type]
        name = TYPE_NAMES.get(kind, f"type {kind}")  # type: ignore[arg-type]
        text = f"luna-admin: task {task_id} ({name}) {phrase}"
        if payload.get("error"):
            text += f": {payload['error']}"
        if payload.get("result_url"):
            text += f"\nresult: {payload['result_url']}"
    return text[:TELEGRAM_TEXT_LIMIT]


class TelegramSender:
    """Sends a readable message through the Bot API: POST {base}/bot{token}/sendMessage."""

    def __init__(self, api_url: str, client: httpx.AsyncClient) -> None:
        self.client = client
        self.api_url = api_url.rstrip("/")

    async def send(self, callback: dict[str, Any], payload: dict[str, Any]) -> None:
        token = callback.get("token")
        if not isinstance(token, str) or not token or token == MASK:
            raise DeliveryError("the telegram callback has no token")
        status, body = await self._post(token, callback, payload)
        answer: Any = None
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = None
        ok = isinstance(answer, dict) and answer.get("ok") is True
        if 200 <= status < 300 and ok:
            return
        description = answer.get("description") if isinstance(answer, dict) else None
        detail = description or _snippet(body) or "an empty answer"
        raise DeliveryError(f"Telegram answered HTTP {status}: {detail}")

    async def _post(
        self, token: str, callback: dict[str, Any], payload: dict[str, Any]
    ) -> tuple[int, bytes]:
        return await _post(
            self.client,
            f"{self.api_url}/bot{token}/sendMessage",
            callback_timeout(callback),
            json={"chat_id": callback.get("chat_id"), "text": telegram_text(payload)},
        )


class CallbackSender:
    """The sender the service runs with: routes each callback by its type.

    Both kinds share one connection pool, the outbound client of the settings'
    CALLBACK_ALLOWED_NETWORKS (redirects are not followed: the operator named the
    endpoint, and a redirect would carry the credentials somewhere else);
    `aclose()` closes it (when it was made here) at shutdown.
    """

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self._owns_client = client is None
        self.client = client or outbound_client(settings.allowed_networks)
        self.http = HttpSender(self.client)
        self.telegram = TelegramSender(settings.telegram_api_url, self.client)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def send(self, callback: dict[str, Any], payload: dict[str, Any]) -> None:
        kind = callback.get("type")
        try:
            if kind == "http":
                await self.http.send(callback, payload)
            elif kind == "telegram":
                await self.telegram.send(callback, payload)
            else:
                raise DeliveryError(f"unknown callback type {kind!r}")
        except DeliveryError as exc:
            # The reason is stored, logged and shown: an error may quote the URL (the bot
            # token is in Telegram's path) and an endpoint may echo a header back.
            raise DeliveryError(scrub(exc.reason, secret_values(callback))) from None


@dataclass
class RecordedSend:
    callback: dict[str, Any]
    payload: dict[str, Any]
    error: str | None
    """None when the send counted as delivered."""


@dataclass
class RecordingSender:
    """A sender for tests: records every send; fails the next `failures` ones if told to."""

    failures: int = 0
    reason: str = "recorded failure"
    delay: float = 0.0
    """Seconds each send takes (to make concurrent runs overlap)."""
    attempts: list[RecordedSend] = field(default_factory=list)

    def fail_next(self, count: int, reason: str = "recorded failure") -> None:
        self.failures = count
        self.reason = reason

    @property
    def sent(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(callback, payload) of the sends that succeeded, in order."""
        return [(a.callback, a.payload) for a in self.attempts if a.error is None]

    async def send(self, callback: dict[str, Any], payload: dict[str, Any]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures > 0:
            self.failures -= 1
            self.attempts.append(RecordedSend(dict(callback), dict(payload), self.reason))
            raise DeliveryError(self.reason)
        self.attempts.append(RecordedSend(dict(callback), dict(payload), None))


# GET /plugins: an http callback needs nothing configured; Telegram needs the Bot API URL.
register_plugin("http_callbacks", "notifier", lambda settings: True)
register_plugin(
    "telegram_callbacks",
    "notifier",
    lambda settings: settings.telegram_api_url.startswith(("http://", "https://")),
)
