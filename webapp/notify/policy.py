"""A task's notification policy: its schema, its defaults, and its secrets.

The policy is stored as the client sent it after `normalise` (defaults filled
in), with the real passwords and tokens, because the dispatcher needs them.
Every answer shows it through `mask`, which is the service's one redaction
policy (webapp/redaction.py): passwords, tokens, headers whose names mean a
secret, secret query parameters of the URL. A client that reads a policy back
and sends it again with the masked values untouched keeps the stored secrets:
`keep_secrets` puts them back before the policy is stored.

The schema is written without `$ref`, so it can be embedded as is in the task
creation schemas (webapp/tasks/schemas.py) as well as validate the body of
`PUT /{api}/tasks/{task_id}/notification_policy` on its own.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from webapp.outbound.addresses import AddressRefused, AllowedNetworks
from webapp.outbound.urls import check_url
from webapp.redaction import MASK, is_secret_name, redact, secret_params
from webapp.web.errors import LunaError

CALLBACK_LISTS = ("task_callbacks", "subtask_callbacks")

DEFAULT_TIMEOUT = 60
DEFAULT_CONTENT_TYPE = "application/json"

# http(s), then a host (a name, an IPv4 address or a bracketed IPv6 address),
# an optional port, then an optional path, query or fragment. Credentials in
# the URL (`user:pass@host`) do not match: they belong in `authorization`,
# where they are masked in answers.
URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._~-]*[A-Za-z0-9])?)"
    r"(:[0-9]{1,5})?"
    r"([/?#][^\s\x00-\x1f\x7f]*)?$"
)
MAX_PORT = 65535
TOKEN_PATTERN = r"^[0-9]+:[A-Za-z0-9_-]+$"
# The masked value is accepted where a token goes, so a policy read back can
# be sent again as is (keep_secrets then restores the stored token).
_TOKEN_OR_MASK = r"^(?:[0-9]+:[A-Za-z0-9_-]+|\*{8})$"
# An HTTP header name (RFC 9110 token) and a value of visible ASCII, spaces and
# tabs: no line breaks (header injection), nothing the HTTP client cannot encode.
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"
_HEADER_VALUE = r"^[\t\x20-\x7e]*$"
_MEDIA_TYPE = r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(;[\t\x20-\x7e]*)?$"

_ENABLE: dict[str, Any] = {"type": "integer", "enum": [0, 1]}
_TIMEOUT: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 3600}

HTTP_CALLBACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"const": "http"},
        "enable": _ENABLE,
        "url": {
            "type": "string",
            "maxLength": 2048,
            "pattern": URL_PATTERN,
            "description": "Not an address inside the network (loopback, private, link-local, "
            "CGNAT, multicast, reserved: any spelling) nor a localhost name, unless "
            "CALLBACK_ALLOWED_NETWORKS allows it: refused with 12022 (docs/security.md).",
        },
        "authorization": {
            "type": "object",
            "properties": {
                "type": {"const": "basic"},
                # Basic credentials are `login:password`: the login cannot hold a colon.
                "login": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "pattern": r"^[^:\x00-\x1f\x7f]*$",
                },
                "password": {"type": "string", "maxLength": 128},
            },
            "required": ["type", "login", "password"],
            "additionalProperties": False,
        },
        "params": {
            "type": "object",
            "properties": {
                "timeout": _TIMEOUT,
                "content_type": {"type": "string", "maxLength": 200, "pattern": _MEDIA_TYPE},
                "headers": {
                    "type": "object",
                    "maxProperties": 20,
                    "propertyNames": {"pattern": _HEADER_NAME},
                    "additionalProperties": {
                        "type": "string",
                        "maxLength": 4096,
                        "pattern": _HEADER_VALUE,
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "required": ["type", "url"],
    "additionalProperties": False,
}

TELEGRAM_CALLBACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"const": "telegram"},
        "enable": _ENABLE,
        "token": {"type": "string", "maxLength": 256, "pattern": _TOKEN_OR_MASK},
        # Group and channel chats have negative ids; keep to what JSON holds exactly.
        "chat_id": {"type": "integer", "minimum": -(2**53) + 1, "maximum": 2**53 - 1},
        "params": {
            "type": "object",
            "properties": {"timeout": _TIMEOUT},
            "additionalProperties": False,
        },
    },
    "required": ["type", "token", "chat_id"],
    "additionalProperties": False,
}


def _when_type(kind: str, schema: dict[str, Any]) -> dict[str, Any]:
    # if/then rather than oneOf: the error then names the field at fault
    # (task_callbacks.0.url) instead of "is not valid under any of the given schemas".
    return {"if": {"properties": {"type": {"const": kind}}, "required": ["type"]}, "then": schema}


CALLBACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"type": {"enum": ["http", "telegram"]}},
    "required": ["type"],
    "allOf": [
        _when_type("http", HTTP_CALLBACK_SCHEMA),
        _when_type("telegram", TELEGRAM_CALLBACK_SCHEMA),
    ],
}

_CALLBACK_LIST: dict[str, Any] = {"type": "array", "maxItems": 10, "items": CALLBACK_SCHEMA}

NOTIFICATION_POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "enable": _ENABLE,
        "task_callbacks": _CALLBACK_LIST,
        "subtask_callbacks": _CALLBACK_LIST,
    },
    "additionalProperties": False,
}
"""Draft 7. The body of the policy route and `notification_policy` in task bodies."""


def parse_policy(policy: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The policy as a dict: asyncpg and Piccolo's raw() hand jsonb over as text."""
    if policy is None:
        return {}
    if isinstance(policy, str):
        loaded = json.loads(policy)
        return loaded if isinstance(loaded, dict) else {}
    return copy.deepcopy(dict(policy))


def _normalise_callback(callback: Mapping[str, Any]) -> dict[str, Any]:
    kind = callback.get("type")
    given_params = callback.get("params") or {}
    result: dict[str, Any] = {"type": kind, "enable": callback.get("enable", 1)}
    if kind == "http":
        result["url"] = callback.get("url")
        if callback.get("authorization") is not None:
            result["authorization"] = copy.deepcopy(callback["authorization"])
        params: dict[str, Any] = {
            "timeout": DEFAULT_TIMEOUT,
            "content_type": DEFAULT_CONTENT_TYPE,
            "headers": {},
        }
    elif kind == "telegram":
        result["token"] = callback.get("token")
        result["chat_id"] = callback.get("chat_id")
        params = {"timeout": DEFAULT_TIMEOUT}
    else:
        params = {}
    params.update(copy.deepcopy(given_params))
    result["params"] = params
    # Anything else (only in policies stored before validation was this strict)
    # is kept rather than silently dropped.
    for key, value in callback.items():
        result.setdefault(key, copy.deepcopy(value))
    return result


def normalise(policy: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The policy with every omitted field at its default (a new dict)."""
    given = parse_policy(policy)
    result: dict[str, Any] = {"enable": given.get("enable", 1)}
    for name in CALLBACK_LISTS:
        result[name] = [_normalise_callback(cb) for cb in given.get(name) or []]
    return result


def mask(policy: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """A copy fit for an answer, a page or the audit log (webapp/redaction.py)."""
    result: dict[str, Any] = redact(parse_policy(policy))
    return result


def _origin(url: Any) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(str(url))
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def _refuse(path: str, what: str) -> LunaError:
    return LunaError(
        "JSON_VALIDATION",
        path=path,
        message=f"'{MASK}' stands for the stored {what}, but there is none to keep here: "
        f"send the {what} itself",
    )


def _restore_callback(callback: dict[str, Any], old: Mapping[str, Any] | None, path: str) -> None:
    same_kind = old is not None and old.get("type") == callback.get("type")
    kind = callback.get("type")
    # An http secret is kept only for the same destination: otherwise anyone
    # allowed to edit the policy could point the URL at their own server and
    # receive the stored password without ever having seen it.
    same_destination = (
        same_kind
        and old is not None
        and (kind != "http" or _origin(old.get("url")) == _origin(callback.get("url")))
    )

    if kind == "telegram" and callback.get("token") == MASK:
        stored = old.get("token") if old is not None and same_kind else None
        if not isinstance(stored, str) or stored == MASK:
            raise _refuse(f"{path}.token", "token")
        callback["token"] = stored

    authorization = callback.get("authorization")
    if isinstance(authorization, dict) and authorization.get("password") == MASK:
        old_auth = old.get("authorization") if old is not None and same_destination else None
        stored = old_auth.get("password") if isinstance(old_auth, dict) else None
        if not isinstance(stored, str) or stored == MASK:
            raise _refuse(f"{path}.authorization.password", "password")
        authorization["password"] = stored

    params = callback.get("params")
    headers = params.get("headers") if isinstance(params, dict) else None
    if isinstance(headers, dict):
        old_params = old.get("params") if old is not None and same_destination else None
        old_headers = old_params.get("headers") if isinstance(old_params, dict) else None
        stored_headers = {
            str(key).lower(): value
            for key, value in (old_headers.items() if isinstance(old_headers, dict) else [])
        }
        for name, value in headers.items():
            if value != MASK or not is_secret_name(name):
                continue
            stored = stored_headers.get(name.lower())
            if not isinstance(stored, str) or stored == MASK:
                raise _refuse(f"{path}.params.headers.{name}", f"value of header {name}")
            headers[name] = stored

    if kind == "http" and isinstance(callback.get("url"), str):
        old_url = old.get("url") if old is not None and same_destination else None
        callback["url"] = _restore_url(
            callback["url"], old_url if isinstance(old_url, str) else None, f"{path}.url"
        )


def _restore_url(url: str, old_url: str | None, path: str) -> str:
    """`url` with each masked secret parameter of its query or fragment (`?token=********`)
    given the value of the same parameter (same name, same place among its namesakes)
    in `old_url`."""
    try:
        parts = urlsplit(url)
        old_parts = urlsplit(old_url) if old_url else None
    except ValueError:
        return url  # not a usable URL: _check_url says so
    if MASK not in unquote(parts.query + parts.fragment):
        return url
    query = _restore_params(parts.query, old_parts.query if old_parts else "", path)
    fragment = _restore_params(parts.fragment, old_parts.fragment if old_parts else "", path)
    return urlunsplit(parts._replace(query=query, fragment=fragment))


def _restore_params(text: str, old_text: str, path: str) -> str:
    stored = secret_params(old_text)
    seen: dict[str, int] = {}
    pieces = []
    for piece in text.split("&"):
        key, eq, value = piece.partition("=")
        name = unquote(key)
        if eq and unquote(value) == MASK and is_secret_name(name):
            index = seen[name] = seen.get(name, -1) + 1
            kept = stored.get(name, [])
            if index >= len(kept) or unquote(kept[index]) == MASK:
                raise _refuse(path, f"value of the parameter {name}")
            piece = f"{key}={kept[index]}"
        pieces.append(piece)
    return "&".join(pieces)


def keep_secrets(
    new: Mapping[str, Any] | str | None, old: Mapping[str, Any] | str | None
) -> dict[str, Any]:
    """`new` with every `********` replaced by the secret stored in `old`.

    A masked value is matched to the callback at the same index of the same
    list with the same type (and, for http, the same scheme, host and port).
    A masked value with nothing to keep raises LunaError 12022 naming its
    path: storing the mask itself would break delivery silently. Call it with
    `old=None` when a task is created, so a copied masked policy is refused.
    """
    result = parse_policy(new)
    stored = parse_policy(old)
    for name in CALLBACK_LISTS:
        old_list = stored.get(name) or []
        for index, callback in enumerate(result.get(name) or []):
            if not isinstance(callback, dict):
                continue
            old_callback = old_list[index] if index < len(old_list) else None
            _restore_callback(
                callback,
                old_callback if isinstance(old_callback, Mapping) else None,
                f"{name}.{index}",
            )
            if callback.get("type") == "http":
                _check_url(callback.get("url"), f"{name}.{index}.url")
    return result


def _check_url(url: Any, path: str) -> None:
    """What URL_PATTERN cannot say: a bracketed host must be an IPv6 address and a
    port at most 65535. Such a URL would be stored and then fail every delivery."""
    try:
        port = httpx.URL(str(url)).port
    except (httpx.InvalidURL, ValueError) as exc:
        raise LunaError("JSON_VALIDATION", path=path, message=f"not a usable URL: {exc}") from None
    if port is not None and not 0 < port <= MAX_PORT:
        raise LunaError("JSON_VALIDATION", path=path, message=f"port {port} is out of range")


def check_destinations(
    policy: Mapping[str, Any] | str | None, allowed: AllowedNetworks, prefix: str = ""
) -> None:
    """LunaError 12022 naming the `url` of the first http callback whose host is an
    address (any spelling) or a localhost name that outbound requests may not reach
    (docs/security.md). Names are resolved and checked again at every delivery."""
    given = parse_policy(policy)
    for name in CALLBACK_LISTS:
        for index, callback in enumerate(given.get(name) or []):
            if not isinstance(callback, Mapping) or callback.get("type") != "http":
                continue
            try:
                check_url(str(callback.get("url")), allowed)
            except (ValueError, AddressRefused) as exc:
                raise LunaError(
                    "JSON_VALIDATION", path=f"{prefix}{name}.{index}.url", message=str(exc)
                ) from None


def enabled_callbacks(policy: Mapping[str, Any] | str | None, kind: str) -> list[dict[str, Any]]:
    """The callbacks of `kind` ("task_callbacks" or "subtask_callbacks") that should fire."""
    normal = normalise(policy)
    if not normal["enable"]:
        return []
    return [cb for cb in normal[kind] if cb.get("enable")]
