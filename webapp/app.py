"""The application factory: routes, errors, templates, request ids, the pool."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Litestar, Request, Response, Router, get
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.response import Redirect, Template
from litestar.response.base import ASGIResponse
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Message, Scope

from webapp import __version__, db
from webapp.accounts.authentication import Authenticator
from webapp.accounts.controller import AccountController, accounts_page
from webapp.accounts.default_password import DefaultPasswordCheck, note_for_page
from webapp.accounts.login_controller import LoginApiController, LoginPageController
from webapp.audit.context import CONTEXT as AUDIT_CONTEXT
from webapp.audit.controller import AuditController
from webapp.docs.controller import manual_home, manual_page, openapi_document
from webapp.logs import REQUEST_ID
from webapp.platform.controller import ListController
from webapp.schedules.controller import ScheduleController
from webapp.search.controller import SearchController
from webapp.settings import ROOT, Settings
from webapp.system import ops as system_ops
from webapp.system.controller import SettingsController, luna_sys_info, system_page, version_page
from webapp.system.metrics import RequestMetrics
from webapp.system.route_stats import RouteStats
from webapp.tasks.background import BackgroundWork
from webapp.tasks.controller import ErrorController, TaskController
from webapp.tasks.workers_controller import WorkerController
from webapp.web.auth import admin_guard
from webapp.web.client_address import TrustedProxies, apply_client
from webapp.web.errors import BY_NAME, CATALOGUE, LunaError, error_body
from webapp.web.negotiation import Mode, respond, response_mode
from webapp.web.request_limits import (
    BODY_MAX_BYTES,
    FORM_MAX_FIELDS,
    BodyReader,
)
from webapp.web.request_path import path_problem
from webapp.web.security_headers import secured
from webapp.web.templates import configure_templates

log = logging.getLogger("webapp.http")

REQUEST_ID_RE = re.compile(
    r"^[0-9]{10},[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def new_request_id() -> str:
    """`<unix seconds>,<uuid4>`, built from random bytes (str(uuid4()) costs more)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{int(time.time())},{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


RequestObserver = Callable[[str, str, int, int | None, float], None]
"""Told of every answered request: (method, route, status, error code or None,
seconds). `route` is the matched path template ("/4/tasks/{task_id}") or
UNMATCHED. Called inline after the answer is sent: it must only record (in
memory), never wait; whatever it writes elsewhere it writes in batches."""

UNMATCHED = "<unmatched>"
"""The route of a request no route matched (404, or a refused request id): one
label, so that probing random paths cannot grow the statistics."""


class LunaLitestar(Litestar):
    """Litestar with the edge of every request around it: the request id, the
    client's address, the checks made before routing (path, announced body size),
    the body limits, the security headers, the access log and the request observers.

    Litestar's middleware runs only for matched routes; all of this must also hold
    for 404 and 405 answers, static files and the /version fast path, so it is
    handled here, outside the router.
    """

    observers: list[RequestObserver]
    trusted_proxies: TrustedProxies
    read_timeout: float

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        sent = _header(scope, b"luna-request-id")
        request_id = sent if sent and REQUEST_ID_RE.fullmatch(sent) else new_request_id()
        token = REQUEST_ID.set(request_id)
        audit_token = AUDIT_CONTEXT.set(None)  # the guard fills it in
        scope["luna.request_id"] = request_id
        client = apply_client(scope, self.trusted_proxies)
        body = BodyReader(scope, receive, self.read_timeout)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = secured(message.get("headers", ()), scope.get("user") is not None)
                headers.append((b"luna-request-id", request_id.encode()))
                if not body.complete and not any(name == b"connection" for name, _ in headers):
                    # The rest of the body is never read: the connection cannot go on.
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            await send(message)

        try:
            error = _refused_before_routing(scope, sent, request_id) or body.announced_error()
            if error is not None:
                scope["luna.error_code"] = error.kind.code
                await _send_error(send_with_id, error)
            else:
                await super().__call__(scope, body, send_with_id)
        except Exception:
            if status:
                raise  # the answer has begun: nothing else can be said
            # The server's own 500 would be plain text without our headers.
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            internal = LunaError("INTERNAL")
            scope["luna.error_code"] = internal.kind.code
            await _send_error(send_with_id, internal)
        finally:
            status = status or 500
            elapsed = time.perf_counter() - started
            log.info(
                "%s %s %s %d %.1fms", client, scope["method"], scope["path"], status, elapsed * 1000
            )
            route = scope.get("path_template") or UNMATCHED
            for observe in self.observers:
                observe(scope["method"], route, status, scope.get("luna.error_code"), elapsed)
            REQUEST_ID.reset(token)
            AUDIT_CONTEXT.reset(audit_token)


def _refused_before_routing(scope: Scope, sent: str | None, request_id: str) -> LunaError | None:
    """A malformed request id, a path no route can mean (a body announced too large:
    BodyReader.announced_error)."""
    if sent is not None and request_id != sent:  # an empty value is malformed too
        return LunaError("BAD_REQUEST_ID", value=sent[:100])
    problem = path_problem(scope)  # type: ignore[arg-type]
    if problem is not None:
        return LunaError("BAD_PATH", reason=problem)
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _send_error(send: Any, error: LunaError) -> None:
    """Answer before Litestar sees the request (see `_refused_before_routing`)."""
    body = json.dumps(error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _as_luna_error(request: Request[Any, Any, Any], exc: Exception) -> LunaError:
    if isinstance(exc, LunaError):
        return exc
    if isinstance(exc, NotFoundException):
        return LunaError("ROUTE_NOT_FOUND", path=request.url.path)
    if isinstance(exc, MethodNotAllowedException):
        return LunaError("METHOD_NOT_ALLOWED", method=request.method, path=request.url.path)
    if isinstance(exc, ValidationException):
        return LunaError("BAD_QUERY_PARAM", name="request")
    if isinstance(exc, HTTPException) and exc.status_code == 413:
        return LunaError("BODY_TOO_LARGE")
    if isinstance(exc, HTTPException) and exc.status_code == 415:
        return LunaError("UNSUPPORTED_MEDIA_TYPE")
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        return LunaError("BAD_QUERY_PARAM", name="request")
    if db.is_unreachable(exc):
        log.error(
            "database unreachable in %s %s: %s", request.method, request.url.path, exc or repr(exc)
        )
        return LunaError("DATABASE_UNAVAILABLE", headers={"Retry-After": "5"})
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return LunaError("INTERNAL")


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every failure, the framework's own included, becomes a catalogue error."""
    error = _as_luna_error(request, exc)
    request.scope["luna.error_code"] = error.kind.code  # type: ignore[typeddict-unknown-key]
    headers = dict(error.headers)
    mode = response_mode(request)
    if error.status == 401 and mode is Mode.PAGE:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path="/login", query_params={"next": target}, status_code=303)
    if error.status == 401 and mode is Mode.PARTIAL:
        # htmx names the page the operator is on; come back to it after signing in.
        try:
            current = urlsplit(request.headers.get("hx-current-url", ""))
            back = current.path + (f"?{current.query}" if current.query else "")
        except ValueError:  # not a URL ("http://[")
            back = ""
        location = f"/login?{urlencode({'next': back})}" if back.startswith("/") else "/login"
        return Response(content=b"", status_code=401, headers={"HX-Redirect": location})
    if (
        error.kind.name == "NO_AUTH_HEADERS"
        and request.headers.get("exclude-header", "").lower() != "www-authorization"
    ):
        headers["WWW-Authenticate"] = 'Basic realm="luna-admin"'
    if mode is Mode.JSON:
        return Response(content=error.body(), status_code=error.status, headers=headers)
    return Template(
        template_name="pages/errors/error.html"
        if mode is Mode.PAGE
        else "partials/common/_error.html",
        context={"error": error.body(), "status": error.status},
        status_code=error.status,
        headers=headers,
    )


@get("/", name="home")
async def home(request: Request[Any, Any, Any]) -> Response[Any]:
    """Route 1: the accounts table is the home page."""
    return await accounts_page(request)


def _accepts_html(scope: Scope) -> bool:
    """Whether the Accept header names text/html: a byte search in the raw headers,
    so that API clients asking for /version pay nothing for the page."""
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value
    return False


def version_handler(api_version: int) -> Any:
    """Route 8, and route 2 (the version page) for a browser.

    The JSON answer never changes while the process runs: it is encoded once and
    sent as it is. The handler takes no parameters (Litestar resolves parameters
    on every request, which costs more than the handler); the page is chosen in
    a before_request hook, which answers only when Accept names text/html.
    """
    major, minor, patch = (int(part) for part in __version__.split(".")[:3])
    body = {"Version": {"api": api_version, "major": major, "minor": minor, "patch": patch}}
    answer = ASGIResponse(
        body=json.dumps(body, separators=(",", ":")).encode(),
        media_type="application/json",
        headers={"Vary": "Accept"},
    )

    async def page_for_browsers(request: Request[Any, Any, Any]) -> Response[Any] | None:
        if _accepts_html(request.scope) and response_mode(request) is not Mode.JSON:
            return await version_page(request, body)
        return None  # the handler answers

    @get(
        "/version",
        opt={"public": True},
        sync_to_thread=False,
        before_request=page_for_browsers,
    )
    def version() -> ASGIResponse:
        return answer

    return version


@get("/docs/errors", include_in_schema=False)
async def error_reference(request: Request[Any, Any, Any]) -> Response[Any]:
    kinds = sorted(CATALOGUE.values(), key=lambda kind: kind.code)
    data = {
        "errors": [
            {
                **error_body(kind, kind.detail),
                "status": kind.status,
                "name": kind.name,
                "explanation": kind.explanation,
                "source": kind.origin,
            }
            for kind in kinds
        ]
    }
    return respond(request, data, page="pages/docs/errors.html")


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    assert BY_NAME  # the catalogue is loaded before any handler runs

    background = BackgroundWork(settings)

    # Request counts per route and month (webapp/system/route_stats.py): counted in
    # memory by an observer, written by a background task every few seconds.
    route_stats = RouteStats()

    async def start(app: Litestar) -> None:
        await db.start_pool(settings.db_pool_size)
        background.start(workers=settings.workers_in_process)
        if settings.route_stats_enabled:
            route_stats.start()

    async def stop(app: Litestar) -> None:
        await route_stats.stop()  # the last counts are written before the pool closes
        await background.stop()
        await db.close_pool()

    # The guard sits on the routers that need it, not on the app: Litestar runs
    # (and copies the handler for) every guard on every request, which public
    # routes such as /version should not pay for.
    api = Router(
        path=settings.api_prefix,
        route_handlers=[
            AccountController,
            ListController,
            SearchController,
            LoginApiController,
            # Before TaskController: /tasks/schedules is not a task id.
            ScheduleController,
            TaskController,
            ErrorController,
            WorkerController,
            AuditController,
            luna_sys_info,
            SettingsController,
        ],
        guards=[admin_guard],
    )
    pages = Router(
        path="/",
        route_handlers=[
            home,
            system_page,
            SettingsController,
            AccountController,
            ListController,
            SearchController,
            LoginPageController,
            # Before TaskController, as in the API.
            ScheduleController,
            TaskController,
            WorkerController,
            AuditController,
        ],
        guards=[admin_guard],
    )
    public = Router(
        path="/",
        route_handlers=[
            version_handler(settings.api_version),
            error_reference,
            openapi_document,
            manual_home,
            manual_page,
            *system_ops.public_handlers(settings.api_prefix),
        ],
    )
    static = create_static_files_router(
        path="/static",
        directories=[ROOT / "static"],
        include_in_schema=False,
        send_as_attachment=False,
    )
    # No HTMXPlugin: it makes every request an HTMXRequest whose details point
    # back at it, a cycle that leaves garbage for the cycle collector on every
    # request (long GC pauses under load). Negotiation reads HX-Request itself;
    # litestar-htmx's response classes are used where they fit.
    app = LunaLitestar(
        route_handlers=[api, pages, public, static],
        exception_handlers={Exception: handle_exception},
        # Pages of a signed-in operator learn whether to show the default-password banner.
        before_request=note_for_page,
        template_config=TemplateConfig(instance=configure_templates(settings)),
        on_startup=[start],
        on_shutdown=[stop],
        openapi_config=None,
        logging_config=None,
        # BodyReader enforces the limits first (webapp/web/request_limits.py).
        request_max_body_size=BODY_MAX_BYTES,
        multipart_form_part_limit=FORM_MAX_FIELDS,
        debug=False,
    )
    app.state.settings = settings
    app.state.authenticator = Authenticator(settings)
    app.state.default_password = DefaultPasswordCheck()
    app.observers = []
    app.trusted_proxies = TrustedProxies(settings.trusted_proxies)
    app.read_timeout = settings.request_read_timeout
    # GET /metrics: request counts and latency of this process (webapp/system/metrics.py).
    app.state.request_metrics = RequestMetrics()
    app.observers.append(app.state.request_metrics.observe)
    app.state.route_stats = route_stats
    if settings.route_stats_enabled:
        app.observers.append(route_stats.observe)
    return app
