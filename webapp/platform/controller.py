"""Lists: `/{api}/lists` and `/lists`, answered by one controller."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath

from webapp.platform import service
from webapp.web.negotiation import respond
from webapp.web.params import Query, parse_uuid

AnyRequest = Request[Any, Any, Any]


class ListController(Controller):
    path = "/lists"

    @get("/")
    async def get_lists(self, request: AnyRequest) -> Response[Any]:
        query = Query(request)
        page = query.page()
        lists, count = await service.list_lists(page, query.uuid("account_id"))
        return respond(
            request,
            {"lists": lists, "list_count": count},
            page="pages/lists/index.html",
            partial="partials/accounts/_lists_table.html",
            context={"page": page},
        )

    @get("/{list_id:str}")
    async def get_list(self, request: AnyRequest, list_id: FromPath[str]) -> Response[Any]:
        data = await service.get_list(parse_uuid(list_id, "list_id"))
        return respond(request, data, page="pages/lists/detail.html")
