"""Routes 44 and 45: `/docs/spec` (the OpenAPI document) and `/docs/dev` (the
manual). Public, as ROUTES.md has every /docs/* route."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from webapp.docs import manual, openapi, spec_page
from webapp.docs.registry import Operation, Reply
from webapp.settings import ROOT
from webapp.web.errors import LunaError
from webapp.web.negotiation import render

AnyRequest = Request[Any, Any, Any]

YAML_TYPES = ("application/x-yaml", "application/yaml", "text/yaml")
HTML_TYPE = "text/html"
VARY = {"Vary": "Accept"}

MANUAL = manual.Manual(ROOT / "docs")


def spec_form(accept: str) -> str | None:
    """The media type to answer /docs/spec with: a YAML type or text/html, the one
    the Accept header ranks highest (the first of equals). Wildcards name no
    form: like the reference, anything but YAML or HTML is refused."""
    best: tuple[float, str] | None = None
    for part in accept.split(","):
        media_type, *params = (piece.strip() for piece in part.split(";"))
        media_type = media_type.lower()
        if media_type not in (*YAML_TYPES, HTML_TYPE):
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, media_type)
    return None if best is None else best[1]


def _yaml(request: AnyRequest) -> str:
    state = request.app.state
    cached = getattr(state, "openapi_yaml", None)
    if cached is None:
        document = openapi.document(request.app)
        cached = openapi.as_yaml(document)
        state.openapi_yaml = cached
    return str(cached)


SPEC = Operation(
    summary="get the OpenAPI document",
    tag="docs",
    description="`Accept: application/x-yaml` (or application/yaml, text/yaml): the document "
    "as YAML; `Accept: text/html`: the document as a page. Anything else: 415, 12024.",
    replies=(
        Reply(
            200,
            "the document",
            {"type": "string", "description": "OpenAPI 3.1 as YAML"},
            YAML_TYPES[0],
            also=tuple((name, {"type": "string"}) for name in YAML_TYPES[1:]),
        ),
    ),
    errors=("UNSUPPORTED_MEDIA_TYPE",),
    page=True,
)


@get("/docs/spec", opt={"public": True, "openapi": SPEC}, sync_to_thread=False)
def openapi_document(request: AnyRequest) -> Response[Any]:
    form = spec_form(request.headers.get("accept", ""))
    if form is None:
        raise LunaError("UNSUPPORTED_MEDIA_TYPE")
    if form == HTML_TYPE:
        context = spec_page.page_context(openapi.document(request.app))
        return render(request, "pages/docs/spec.html", context, headers=VARY)
    return Response(content=_yaml(request), media_type=form, headers=VARY)


DEV = Operation(
    summary="development manual",
    tag="docs",
    replies=(
        Reply(302, "to the manual's first page", headers=(("Location", "/docs/dev/index.html"),)),
    ),
)


@get("/docs/dev", opt={"public": True, "openapi": DEV}, sync_to_thread=False)
def manual_home() -> Redirect:
    return Redirect(path="/docs/dev/index.html", status_code=302)


DEV_PAGE = Operation(
    summary="a page of the development manual",
    tag="docs",
    description="docs/<name>.md rendered as HTML; links between pages lead to their pages.",
    replies=(Reply(200, "the page", {"type": "string"}, HTML_TYPE),),
    errors=("ROUTE_NOT_FOUND",),
)


@get("/docs/dev/{page:str}", opt={"public": True, "openapi": DEV_PAGE}, sync_to_thread=True)
def manual_page(request: AnyRequest, page: FromPath[str]) -> Response[Any]:
    # sync_to_thread: the first view of a page reads and renders its file.
    name = page.removesuffix(".html") if page.endswith(".html") else ""
    shown = MANUAL.page(name) if name else None
    if shown is None:
        raise LunaError("ROUTE_NOT_FOUND", path=request.url.path)
    context = {"page": shown, "contents": MANUAL.contents()}
    return render(request, "pages/docs/dev.html", context)
