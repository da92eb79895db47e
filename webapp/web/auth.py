"""Authentication and CSRF for every route, as one Litestar guard.

Routes opt out with `opt={"public": True}`. Everything else needs an admin
account, by Basic credentials or by the session cookie. Requests authenticated
by the cookie that change something must prove they come from our pages with
a CSRF token (the X-CSRF-Token header that base.html gives htmx, or the
_csrf_token field of a plain form); Basic-authenticated API clients need none,
since a browser never attaches Basic credentials cross-site on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.handlers.base import BaseRouteHandler

from webapp.accounts.authentication import Authenticator, Principal
from webapp.accounts.sessions import COOKIE_NAME
from webapp.audit import context as audit_context
from webapp.web.body import form_field
from webapp.web.errors import LunaError

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf_token"
PRE_SESSION_COOKIE = "luna_admin_csrf"
"""Double-submit cookie protecting the sign-in form, before any session exists."""


def authenticator(connection: ASGIConnection[Any, Any, Any, Any]) -> Authenticator:
    return connection.app.state.authenticator


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else ""


def basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise LunaError("WRONG_CREDENTIALS")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # ValueError: bytes past ASCII in the header
        raise LunaError("WRONG_CREDENTIALS") from None
    login, sep, password = decoded.partition(":")
    if not sep or not login or "\x00" in login or len(login) > 256:
        raise LunaError("WRONG_CREDENTIALS")
    return login, password


async def identify(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal behind a request: Basic first, then the session cookie."""
    header = connection.headers.get("authorization")
    if header:
        login, password = basic_credentials(header)
        return await authenticator(connection).check_password(
            login, password, client_ip(connection)
        )
    token = connection.cookies.get(COOKIE_NAME)
    if token:
        return await authenticator(connection).check_session(token)
    raise LunaError("NO_AUTH_HEADERS")


def csrf_token_for(secret: str, session_token: str) -> str:
    digest = hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256)
    return digest.hexdigest()[:40]


async def _check_csrf(connection: ASGIConnection[Any, Any, Any, Any], expected: str) -> None:
    sent = connection.headers.get(CSRF_HEADER)
    if not sent and isinstance(connection, Request):
        content_type = connection.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            sent = await form_field(connection, CSRF_FIELD)
    # Bytes: compare_digest refuses str with characters past ASCII (a header may hold any).
    if not sent or not hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode()
    ):
        raise LunaError("CSRF_FAILED")


async def admin_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    # Before the credentials are checked: a failed check is recorded with the address.
    audit_context.enter_request(client_ip(connection), connection.headers.get("user-agent"))
    if handler.opt.get("public"):
        return
    principal = await identify(connection)
    connection.scope["user"] = principal
    audit_context.set_actor(principal.account_id, principal.login)
    if principal.via == "cookie":
        assert principal.session_token is not None
        token = csrf_token_for(connection.app.state.settings.secret_key, principal.session_token)
        connection.scope["luna.csrf"] = token  # type: ignore[typeddict-unknown-key]
        if connection.scope.get("method") not in SAFE_METHODS:
            await _check_csrf(connection, token)
    if not principal.is_admin:
        raise LunaError("NOT_ADMIN", login=principal.login)


async def optional_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """For public pages that change when someone is signed in (the sign-in page)."""
    token = connection.cookies.get(COOKIE_NAME)
    if not token:
        return None
    try:
        return await authenticator(connection).check_session(token)
    except LunaError:
        return None


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    return request.scope["user"]
