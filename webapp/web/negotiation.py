"""Content negotiation, written once: JSON, a full page, or an HTMX partial.

Every handler builds its data once and hands it to `respond`, which picks the
form of the answer from the request:

- `HX-Request: true`                     -> the partial template
- Accept prefers text/html                -> the full page template
- anything else (application/json, */*)   -> JSON, the default
"""

from __future__ import annotations

import enum
from typing import Any
from urllib.parse import quote, unquote

from litestar import Request, Response
from litestar.plugins.htmx import ClientRedirect
from litestar.response import Redirect, Template
from litestar.response.base import ASGIResponse

VARY = {"Vary": "Accept, HX-Request"}


class EmptyResponse(Response[bytes]):
    """A success without a body, and so without a Content-Type (Litestar gives
    every answer one, application/json by default: a claim of a body that is not
    there)."""

    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(content=b"", status_code=status_code, headers=headers)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        response = super().to_asgi_response(*args, **kwargs)
        if "content-type" in response.headers:
            del response.headers["content-type"]
        return response


class Mode(enum.Enum):
    JSON = "json"
    PAGE = "page"
    PARTIAL = "partial"


def response_mode(request: Request[Any, Any, Any]) -> Mode:
    cached = request.scope.get("luna.mode")
    if isinstance(cached, Mode):
        return cached
    if request.headers.get("hx-request") == "true":
        mode = Mode.PARTIAL
    elif "text/html" not in request.headers.get("accept", ""):
        mode = Mode.JSON
    else:
        best = request.accept.best_match(
            ["application/json", "text/html"], default="application/json"
        )
        mode = Mode.PAGE if best == "text/html" else Mode.JSON
    request.scope["luna.mode"] = mode  # type: ignore[typeddict-unknown-key]
    return mode


def wants_html(request: Request[Any, Any, Any]) -> bool:
    return response_mode(request) is not Mode.JSON


FLASH_COOKIE = "luna_admin_flash"


def respond(
    request: Request[Any, Any, Any],
    data: Any,
    *,
    page: str,
    partial: str | None = None,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """Answer with `data` as JSON, or render it into `page` / `partial`."""
    mode = response_mode(request)
    all_headers = {**VARY, **(headers or {})}
    if mode is Mode.JSON:
        return Response(content=data, status_code=status_code, headers=all_headers)
    template = partial if (mode is Mode.PARTIAL and partial) else page
    return render(request, template, {"data": data, **(context or {})}, status_code, all_headers)


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """A template; a full page also shows (and uses up) the one-time flash message."""
    flash_message = (
        request.cookies.get(FLASH_COOKIE) if response_mode(request) is Mode.PAGE else None
    )
    response = Template(
        template_name=template,
        context={"flash": unquote(flash_message or ""), **context},
        status_code=status_code,
        headers=headers or {},
    )
    if flash_message:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(
    request: Request[Any, Any, Any], location: str, message: str | None = None
) -> Response[Any]:
    """After a successful form post: 303 for a plain form, HX-Redirect for htmx.

    `message` is shown once on the page redirected to (post/redirect/get).
    """
    response: Response[Any]
    if response_mode(request) is Mode.PARTIAL:
        response = ClientRedirect(location)
    else:
        response = Redirect(path=location, status_code=303)
    if message:
        response.set_cookie(FLASH_COOKIE, quote(message), path="/", httponly=True, samesite="lax")
    return response
