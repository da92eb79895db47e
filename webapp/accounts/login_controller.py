"""Sign-in, sign-out and password change.

`/{api}/login` is the API of the reference (routes 10-13: Basic credentials in,
session cookie out). The pages have their own form routes (`/login`,
`/logout`, `/password`) because a browser form cannot send Basic credentials
or DELETE; both call the same services.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post

from webapp import audit, db
from webapp.accounts import service, sessions
from webapp.accounts.authentication import Authenticator, Principal
from webapp.web.auth import (
    basic_credentials,
    client_ip,
    current_principal,
    optional_principal,
)
from webapp.web.body import form_field, read_body, read_raw_body
from webapp.web.errors import LunaError
from webapp.web.negotiation import EmptyResponse, Mode, redirect, render, respond, response_mode

AnyRequest = Request[Any, Any, Any]

LOGIN_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "login": {"type": "string", "minLength": 1, "maxLength": 128},
        "password": {"type": "string", "minLength": 1, "maxLength": 128},
        "next": {"type": "string", "maxLength": 2048},
    },
    "required": ["login", "password"],
}


PAGE_MESSAGES = {"NOT_ADMIN": "Only admin accounts may sign in to the Admin."}
"""The sign-in page's words where the catalogue's detail says too little."""


def _auth(request: AnyRequest) -> Authenticator:
    return request.app.state.authenticator


def _set_session_cookie(request: AnyRequest, response: Response[Any], token: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_lifetime,
    )


async def _begin_session(
    request: AnyRequest, principal: Principal, response: Response[Any]
) -> None:
    """A new session for `principal`; the one the request came with (if any) ends.

    Rotating the token at sign-in means a token planted before sign-in is useless.
    """
    old = request.cookies.get(sessions.COOKIE_NAME)
    if old:
        await sessions.end(old)
    token = await _auth(request).start_session(
        principal, client_ip(request), request.headers.get("user-agent", "")
    )
    _set_session_cookie(request, response, token)


async def _sign_in(
    request: AnyRequest, principal: Principal, response: Response[Any], via: str
) -> None:
    """`_begin_session` and its audit event, committed together."""
    async with db.engine().transaction():
        await _begin_session(request, principal, response)
        await audit.record(
            None,
            "session.sign_in",
            "account",
            principal.account_id,
            {"via": via},
            actor=audit.Actor(principal.account_id, principal.login),
        )


async def _sign_out(request: AnyRequest) -> None:
    """End the session of the request's cookie (if it is still alive) and record it."""
    token = request.cookies.get(sessions.COOKIE_NAME)
    if not token:
        return
    async with db.engine().transaction():
        owner = await sessions.end(token)
        if owner is not None:
            await audit.record(None, "session.sign_out", "account", owner)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class LoginApiController(Controller):
    """Routes 10-13 under the API prefix."""

    path = "/login"

    @get("/", media_type="text/plain")
    async def check_cookie(self, request: AnyRequest) -> Response[str]:
        return Response(content="Ok", media_type="text/plain")

    @post("/", status_code=201, opt={"public": True})
    async def set_cookie(self, request: AnyRequest) -> Response[Any]:
        header = request.headers.get("authorization")
        if not header:
            raise LunaError("NO_AUTH_HEADERS")
        login, password = basic_credentials(header)
        principal = await _auth(request).check_password(login, password, client_ip(request))
        if not principal.is_admin:
            raise LunaError("NOT_ADMIN", login=principal.login)
        # No body, so no Content-Type: the reference shows none for this 201.
        response: Response[Any] = EmptyResponse(201)
        await _sign_in(request, principal, response, "api")
        return response

    @patch("/", status_code=204)
    async def change_password(self, request: AnyRequest) -> Response[None]:
        body = await read_body(request, service.PASSWORD_SCHEMA)
        principal = current_principal(request)
        await service.change_password(principal.account_id, body["password"], _auth(request).cache)
        response: Response[None] = Response(content=None, status_code=204)
        await _begin_session(request, principal, response)
        return response

    @delete("/", status_code=204)
    async def clear_cookie(self, request: AnyRequest) -> Response[None]:
        await _sign_out(request)
        response: Response[None] = Response(content=None, status_code=204)
        response.delete_cookie(sessions.COOKIE_NAME, path="/")
        return response


class LoginPageController(Controller):
    """The sign-in page and the forms of the pages."""

    path = "/"

    @get("/login", opt={"public": True}, include_in_schema=False)
    async def login_page(self, request: AnyRequest) -> Response[Any]:
        target = safe_next(request.query_params.get("next"))
        if await optional_principal(request) is not None:
            return redirect(request, target)
        return self._login_form(request, target, error=None, login="", status_code=200)

    @post("/login", opt={"public": True}, include_in_schema=False)
    async def login_form(self, request: AnyRequest) -> Response[Any]:
        form = await read_raw_body(request, LOGIN_FORM_SCHEMA)
        target = safe_next(form.get("next") if isinstance(form, dict) else None)
        login = str(form.get("login", "")) if isinstance(form, dict) else ""
        try:
            body = await read_body(request, LOGIN_FORM_SCHEMA)
            principal = await _auth(request).check_password(
                body["login"], body["password"], client_ip(request)
            )
            if not principal.is_admin:
                raise LunaError("NOT_ADMIN", login=principal.login)
        except LunaError as error:
            message = PAGE_MESSAGES.get(error.kind.name, error.detail)
            return self._login_form(request, target, message, login, error.status, error.headers)
        response = redirect(request, target)
        await _sign_in(request, principal, response, "page")
        return response

    def _login_form(
        self,
        request: AnyRequest,
        target: str,
        error: str | None,
        login: str,
        status_code: int,
        headers: dict[str, str] | None = None,
    ) -> Response[Any]:
        partial = response_mode(request) is Mode.PARTIAL
        return render(
            request,
            "partials/auth/_login_form.html" if partial else "pages/auth/login.html",
            {"next": target, "error": error, "login": login},
            status_code,
            headers,
        )

    @post("/logout", include_in_schema=False)
    async def logout(self, request: AnyRequest) -> Response[Any]:
        await _sign_out(request)
        response = redirect(request, "/login", "Signed out")
        response.delete_cookie(sessions.COOKIE_NAME, path="/")
        return response

    @get("/password", include_in_schema=False)
    async def password_page(self, request: AnyRequest) -> Response[Any]:
        return respond(request, {}, page="pages/auth/password.html", context={"error": None})

    @post("/password", include_in_schema=False)
    async def password_form(self, request: AnyRequest) -> Response[Any]:
        principal = current_principal(request)
        try:
            form = await read_raw_body(request, service.PASSWORD_SCHEMA)
            await _check_current_password(request, principal)
            confirm = await form_field(request, "_password_confirm")
            if confirm is not None and confirm != form.get("password"):
                raise LunaError(
                    "JSON_VALIDATION", path="password", message="the two passwords differ"
                )
            body = await read_body(request, service.PASSWORD_SCHEMA)
            await service.change_password(
                principal.account_id, body["password"], _auth(request).cache
            )
        except LunaError as error:
            message = str(error.params.get("message", error.detail))
            return respond(
                request,
                error.body(),
                page="pages/auth/password.html",
                partial="partials/auth/_password_form.html",
                context={"error": message},
                status_code=error.status,
            )
        response = redirect(request, "/", "Password changed; other sessions were signed out")
        await _begin_session(request, principal, response)
        return response


async def _check_current_password(request: AnyRequest, principal: Principal) -> None:
    """The page asks for the current password: a session left open (or stolen) must not
    be enough to take the account over. A wrong one counts as a failed sign-in (it is
    throttled and audited like one). The API route keeps the reference's body."""
    current = await form_field(request, "_current_password")
    if not current:
        raise LunaError(
            "JSON_VALIDATION", path="current_password", message="enter your current password"
        )
    try:
        await _auth(request).check_password(principal.login, current, client_ip(request))
    except LunaError as error:
        if error.kind.name != "WRONG_CREDENTIALS":
            raise
        raise LunaError(
            "JSON_VALIDATION",
            path="current_password",
            message="the current password is not correct",
        ) from None
