"""The audit log: `GET /{api}/audit` (an extension) and the `/audit` page."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from webapp.audit import service
from webapp.audit.service import AuditFilters
from webapp.audit.vocabulary import ACTIONS, DOMAINS, TARGET_TYPES
from webapp.web.errors import LunaError
from webapp.web.negotiation import Mode, respond, response_mode
from webapp.web.params import Page, Query, page_url

AnyRequest = Request[Any, Any, Any]

FILTERS = ("actor", "action", "target_type", "target_id", "event_time__gte", "event_time__lt")


def audit_filters(query: Query) -> AuditFilters:
    """The filters of the route and the page; LunaError 12012 naming a bad one."""
    gte, lt = query.time_range("event_time")
    action = query.text("action", max_length=64) or None
    actions = None
    if action is not None:
        if action in ACTIONS:
            actions = [action]
        elif action in DOMAINS:
            actions = DOMAINS[action]
        else:
            raise LunaError("BAD_QUERY_PARAM", name="action")
    target_type = query.text("target_type", max_length=32) or None
    if target_type is not None and target_type not in TARGET_TYPES:
        raise LunaError("BAD_QUERY_PARAM", name="target_type")
    return AuditFilters(
        actor=query.text("actor", max_length=256) or None,
        actions=actions,
        target_type=target_type,
        target_id=query.text("target_id", max_length=256) or None,
        event_time_gte=gte,
        event_time_lt=lt,
    )


class AuditController(Controller):
    path = "/audit"

    @get("/")
    async def get_events(self, request: AnyRequest) -> Response[Any]:
        """`{"events": [...], "event_count": N}`, newest first; the page shows the same."""
        query = Query(request)
        mode = response_mode(request)
        context: dict[str, Any] = {
            "query": {name: request.query_params.get(name, "") for name in FILTERS},
            "pages_base": page_url(request, "/audit", drop=("page", "page_size")),
            "filter_error": None,
            "domains": DOMAINS,
            "actions": ACTIONS,
            "target_types": TARGET_TYPES,
        }
        status_code = 200
        try:
            filters, page = audit_filters(query), query.page(default_size=25)
        except LunaError as error:
            if mode is Mode.JSON:
                raise
            # The page stays usable: the filters again, with what is wrong with them.
            filters, page = None, Page(page=1, page_size=25)
            context["filter_error"] = error.detail
            status_code = 400
        if filters is None:
            data: dict[str, Any] = {"events": [], "event_count": 0}
        else:
            events = await service.list_events(filters, page)
            data = {"events": events, "event_count": await service.count_events(filters)}
        context["page"] = page
        if mode is Mode.PAGE:
            context["actors"] = await service.recent_actors()
        return respond(
            request,
            data,
            page="pages/audit/index.html",
            partial="partials/audit/_table.html",
            context=context,
            status_code=status_code,
        )
