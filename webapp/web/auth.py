"""Authentication for every route, as one Litestar guard.

Routes opt out with `opt={"public": True}`. Everything else needs an admin
account, by Basic credentials or by the session cookie. Before any of that, a
request that changes something and that a browser says comes from another site
is refused (webapp/web/origin.py), whatever credentials it carries: public
routes too (the sign-in form), since a browser attaches the cookie, and Basic
credentials it has cached, to a forged request as readily as to a real one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.handlers.base import BaseRouteHandler

from webapp.accounts.authentication import Authenticator, Principal
from webapp.accounts.sessions import COOKIE_NAME
from webapp.audit import context as audit_context
from webapp.web.errors import LunaError
from webapp.web.origin import refuse_cross_site

POLL_HEADER = "luna-poll"
"""Sent by the pages' pollers (hx-headers): such requests do not refresh a session."""


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
        # A page polling for progress is not the operator at work (its idle timeout).
        polling = connection.headers.get(POLL_HEADER) == "1"
        return await authenticator(connection).check_session(token, touch=not polling)
    raise LunaError("NO_AUTH_HEADERS")


async def admin_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    # Before the credentials are checked: a failed check is recorded with the address.
    audit_context.enter_request(client_ip(connection), connection.headers.get("user-agent"))
    # First: a forged request must not even count as a failed sign-in.
    refuse_cross_site(connection)
    if handler.opt.get("public"):
        return
    principal = await identify(connection)
    connection.scope["user"] = principal
    audit_context.set_actor(principal.account_id, principal.login)
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


async def show_signed_in_admin(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """On a public page: the signed-in admin (then the page shows the navigation and
    the sign-out form of base.html), or None."""
    who = await optional_principal(connection)
    if who is None or not who.is_admin:
        return None
    connection.scope["user"] = who
    return who


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    return request.scope["user"]
