"""System information (route 9), the system page, the settings (page and the
extension routes `GET /{api}/settings`, `PATCH /{api}/settings/{name}`) and
the version page (route 2, negotiated inside GET /version in webapp/app.py).

The settings page's forms post to routes of their own (`POST /settings/{name}`,
`POST /settings/{name}/reset`) because an HTML form cannot PATCH; every path
changes a setting through settings_service.update_setting.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, patch, post
from litestar.params import FromPath

from webapp.settings import Settings
from webapp.system import settings_service, traffic, versions
from webapp.system.settings_catalog import BY_NAME
from webapp.system.sys_info import sys_info
from webapp.web.auth import show_signed_in_admin
from webapp.web.body import form_field, read_body
from webapp.web.errors import LunaError
from webapp.web.negotiation import VARY, Mode, redirect, render, respond, response_mode
from webapp.web.params import Query

AnyRequest = Request[Any, Any, Any]

PAGE_PATH = "/settings"
VALUE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"value": {}},
    "required": ["value"],
    "additionalProperties": False,
}
"""PATCH /{api}/settings/{name}: any JSON value; the setting's catalogue entry
says which are allowed."""


def _settings(request: AnyRequest) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _flush_route_stats(request: AnyRequest) -> None:
    """Counts of this process go in before the statistics are read, so the answer
    includes every request this process has answered so far."""
    await request.app.state.route_stats.flush()


# ---------------------------------------------------------------------- route 9


@get("/luna_sys_info")
async def luna_sys_info(request: AnyRequest) -> Response[Any]:
    await _flush_route_stats(request)
    info = await sys_info(_settings(request))
    return Response(content=info.body)


# ---------------------------------------------------------------------- the system page


def _month(query: Query) -> str | None:
    value = query.text("month", max_length=7)
    if value and not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", value):
        raise LunaError("BAD_QUERY_PARAM", name="month")
    return value or None


def _license_state(body: dict[str, Any], faces: int) -> dict[str, Any]:
    """What the license card says beside the values: expired, faces over the limit."""
    info = body["license_info"]
    expires = info["expiration_time"]["value"]
    limit = info["faces_limit"]["value"]
    return {
        "expired": bool(expires) and datetime.fromisoformat(expires) <= datetime.now(UTC),
        "faces": faces,
        "faces_over_limit": limit is not None and faces > limit,
    }


@get("/system")
async def system_page(request: AnyRequest) -> Response[Any]:
    """The system page: versions, descriptors, license, and the request statistics
    as charts. JSON clients get the luna_sys_info body."""
    month = _month(Query(request))
    await _flush_route_stats(request)
    info = await sys_info(_settings(request))
    if response_mode(request) is Mode.JSON:
        return Response(content=info.body)
    routes_stats = info.body["stats"]["routes_stats"]
    months = traffic.per_month(routes_stats)
    shown = month or (months[-1].label if months else datetime.now(UTC).strftime("%Y-%m"))
    routes = traffic.per_route(routes_stats, shown)
    return respond(
        request,
        info.body,
        page="pages/system/index.html",
        context={
            "components": await versions.component_versions(),
            "service": versions.service_version(_settings(request).api_version),
            "license": _license_state(info.body, info.faces),
            "months": months,
            "month": shown,
            "month_choices": sorted({item["month"] for item in routes_stats}, reverse=True),
            "routes": routes,
            "month_chart": traffic.month_chart(months),
            "route_chart": traffic.route_chart(routes, shown),
        },
    )


# ---------------------------------------------------------------------- route 2


async def version_page(request: AnyRequest, body: dict[str, Any]) -> Response[Any]:
    """The version page. Public like GET /version: everyone sees the service and
    API versions (what the JSON says); the component versions (Python, the
    libraries, PostgreSQL) are shown to a signed-in admin only, since they tell
    an attacker which known flaws to try."""
    components = None
    if await show_signed_in_admin(request) is not None:
        components = await versions.component_versions()
    page = render(
        request,
        "pages/system/version.html",
        {"data": body, "service": body["Version"], "components": components},
        headers=VARY,
    )
    # GET /version's handler answers JSON, so Litestar gave it JSON as its media
    # type; this answer says what it is.
    page.media_type = MediaType.HTML
    return page


# ---------------------------------------------------------------------- settings


def _described(setting: dict[str, Any]) -> dict[str, Any]:
    """A setting as GET /{api}/settings lists it: the `configs` item plus its default
    and what a value may be."""
    spec = BY_NAME[setting["name"]]
    return {**setting, "default": spec.default, "rule": spec.rule}


def _card(
    setting: dict[str, Any], error: str = "", typed: str | None = None, saved: bool = False
) -> dict[str, Any]:
    """One setting as its card on the page shows it."""
    spec = BY_NAME[setting["name"]]
    return {
        "setting": setting,
        "spec": spec,
        "text": spec.as_text(setting["value"]) if typed is None else typed,
        "default_text": "null" if spec.default is None else str(spec.default),
        "error": error,
        "saved": saved,
    }


async def _settings_page(
    request: AnyRequest,
    status_code: int = 200,
    refused: tuple[str, str, str] | None = None,
) -> Response[Any]:
    """The settings page; `refused` (name, reason, text typed) shows a refused value
    in its card."""
    settings = await settings_service.list_settings()
    cards = [
        _card(s, error=refused[1], typed=refused[2])
        if refused and refused[0] == s["name"]
        else _card(s)
        for s in settings
    ]
    groups = [
        ("Statistics", [c for c in cards if "statistics" in c["setting"]["tags"]]),
        ("License", [c for c in cards if "license" in c["setting"]["tags"]]),
    ]
    return respond(
        request,
        {"settings": [_described(s) for s in settings]},
        page="pages/settings/index.html",
        context={"groups": groups},
        status_code=status_code,
    )


def _answer_page_change(
    request: AnyRequest, name: str, change: settings_service.SettingChange
) -> Response[Any]:
    """After a change from the page: the card (htmx) or the page (post/redirect/get)."""
    if response_mode(request) is Mode.PARTIAL:
        return render(
            request,
            "partials/system/_setting_card.html",
            {"card": _card(change.setting, saved=True)},
        )
    return redirect(request, f"{PAGE_PATH}#setting-{name}", f"{name} saved")


async def _page_error(
    request: AnyRequest, name: str, error: LunaError, typed: str
) -> Response[Any]:
    """The value was refused: the card again with the typed text and the reason (422)."""
    reason = str(error.params.get("message") or error.detail)
    if response_mode(request) is Mode.PARTIAL:
        current = next(s for s in await settings_service.list_settings() if s["name"] == name)
        return render(
            request,
            "partials/system/_setting_card.html",
            {"card": _card(current, error=reason, typed=typed)},
            422,
        )
    return await _settings_page(request, 422, (name, reason, typed))


class SettingsController(Controller):
    path = PAGE_PATH

    @get("/")
    async def list_settings(self, request: AnyRequest) -> Response[Any]:
        """Every setting with its value, default and rule (an extension); the page."""
        return await _settings_page(request)

    @patch("/{name:str}")
    async def patch_setting(self, request: AnyRequest, name: FromPath[str]) -> Response[Any]:
        """Change one setting (an extension): body {"value": ...} -> 200, the setting."""
        settings_service.spec_of(name)  # 404 before 400: an unknown setting needs no body checked
        body = await read_body(request, VALUE_SCHEMA)
        change = await settings_service.change_setting(name, body["value"])
        return Response(content=_described(change.setting))

    @post("/{name:str}", include_in_schema=False)
    async def save_setting_form(self, request: AnyRequest, name: FromPath[str]) -> Response[Any]:
        """The page's form: the value as typed (empty means null)."""
        spec = settings_service.spec_of(name)
        typed = await form_field(request, "value")
        if typed is None:
            raise LunaError("JSON_VALIDATION", path="value", message="'value' is a required field")
        try:
            change = await settings_service.change_setting(name, spec.parse_text(typed))
        except LunaError as error:
            if response_mode(request) is Mode.JSON or error.kind.name != "JSON_VALIDATION":
                raise
            return await _page_error(request, name, error, typed)
        if response_mode(request) is Mode.JSON:
            return Response(content=_described(change.setting))
        return _answer_page_change(request, name, change)

    @post("/{name:str}/reset", include_in_schema=False)
    async def reset_setting_form(self, request: AnyRequest, name: FromPath[str]) -> Response[Any]:
        """The page's "reset to default" button."""
        change = await settings_service.reset_setting(name)
        if response_mode(request) is Mode.JSON:
            return Response(content=_described(change.setting))
        if response_mode(request) is Mode.PARTIAL:
            return _answer_page_change(request, name, change)
        return redirect(request, f"{PAGE_PATH}#setting-{name}", f"{name} reset to its default")
