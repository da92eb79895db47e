"""Routes 46-50: configuration, health, plugins and metrics (docs/monitoring.md).

All five are public, as the reference shows them: monitoring systems and load
balancers carry no credentials, and the reference lists no Authorization header
for `/config` and `/plugins`. `/config` therefore masks every secret it could
show (webapp/system/config_view.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from webapp.system import config_view, health, metrics, plugins
from webapp.web.auth import show_signed_in_admin
from webapp.web.errors import BY_NAME, LunaError
from webapp.web.negotiation import Mode, render, respond, response_mode
from webapp.web.params import Query

AnyRequest = Request[Any, Any, Any]

NO_STORE = {"Cache-Control": "no-store"}
CONFIG_TYPES = ["application/json", "text/plain", "text/html"]
UNHEALTHY_CODE = BY_NAME["SERVICE_UNHEALTHY"].code


@get("/config", opt={"public": True}, name="ops_config")
async def service_config(request: AnyRequest) -> Response[Any]:
    """Route 46: the effective settings, secrets masked. JSON (the default) or
    text/plain `NAME = value` lines; a browser gets a page; any other Accept is 415."""
    groups = config_view.grouped(request.app.state.settings)
    accept = request.headers.get("accept", "").strip()
    if response_mode(request) is Mode.PARTIAL:
        chosen: str | None = "text/html"
    elif not accept:
        chosen = "application/json"
    else:
        chosen = request.accept.best_match(CONFIG_TYPES, default=None)
    headers = {"Vary": "Accept, HX-Request", **NO_STORE}
    if chosen is None:
        raise LunaError("UNSUPPORTED_MEDIA_TYPE")
    if chosen == "text/plain":
        return Response(
            content=config_view.as_text(groups), media_type="text/plain", headers=headers
        )
    if chosen == "text/html":
        await show_signed_in_admin(request)
        return render(request, "pages/ops/config.html", {"data": groups}, headers=headers)
    return Response(content=groups, headers=headers)


@get("/plugins", opt={"public": True}, name="ops_plugins")
async def plugin_list(request: AnyRequest) -> Response[Any]:
    """Route 49: `{"plugins": [{"name", "running"}]}` from the plugin registry."""
    data = {"plugins": plugins.listing(request.app.state.settings)}
    if response_mode(request) is not Mode.JSON:
        await show_signed_in_admin(request)
    return respond(
        request,
        data,
        page="pages/ops/plugins.html",
        context={"kinds": plugins.kinds()},
        headers=NO_STORE,
    )


def health_handler(api_prefix: str) -> Any:
    """Routes 47 and 48: one handler on both paths (each keeps its own metrics label)."""

    @get(
        ["/healthcheck", f"{api_prefix}/healthcheck"], opt={"public": True}, name="ops_healthcheck"
    )
    async def healthcheck(request: AnyRequest) -> Response[Any]:
        """200 `{"execution_time"}`, or 502 naming every failing component."""
        include = Query(request).integer("include_luna_services", 0, choices={0, 1})
        report = await health.check(request.app.state.settings, include_services=bool(include))
        if report.healthy:
            return Response(content=report.body(), headers=NO_STORE)
        # The error code, for the request observers (statistics, logs).
        request.scope["luna.error_code"] = UNHEALTHY_CODE  # type: ignore[typeddict-unknown-key]
        return Response(content=report.body(), status_code=502, headers=NO_STORE)

    return healthcheck


@get("/metrics", opt={"public": True}, name="ops_metrics")
async def metrics_handler(request: AnyRequest) -> Response[bytes]:
    """Route 50: Prometheus text exposition (per-process request counters plus
    task and schedule figures read from the database)."""
    body = await metrics.exposition(request.app.state.request_metrics)
    return Response(content=body, media_type=metrics.CONTENT_TYPE, headers=NO_STORE)


def public_handlers(api_prefix: str) -> list[Any]:
    return [health_handler(api_prefix), metrics_handler, service_config, plugin_list]
