"""Search (route 14): one box that finds an account by id or login, a list by id,
a task by its number."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get

from webapp.accounts import service as accounts
from webapp.platform import service as platform
from webapp.tasks import service as tasks
from webapp.web.errors import LunaError
from webapp.web.negotiation import Mode, redirect, respond, response_mode
from webapp.web.params import UUID_RE, Query, parse_uuid

AnyRequest = Request[Any, Any, Any]


async def search(q: str) -> dict[str, Any] | None:
    """`{"data", "type"}` for the first thing `q` names, or None."""
    q = q.strip()
    if UUID_RE.fullmatch(q.lower()):
        uid = parse_uuid(q.lower(), "q")
        try:
            return {"data": await accounts.get_account(uid), "type": "account"}
        except LunaError:
            pass
        found_list = await platform.find_list(uid)
        if found_list is not None:
            return {"data": found_list, "type": "list"}
        return None
    if re.fullmatch(r"[0-9]{1,18}", q) and int(q) > 0:
        task = await tasks.find_task(int(q))
        return None if task is None else {"data": task, "type": "task"}
    if re.fullmatch(r"[^\s@]+@[^\s@]+", q):
        account = await accounts.find_account_by_login(q.lower())
        if account is not None:
            return {"data": account, "type": "account"}
    return None


def page_of(found: dict[str, Any]) -> str:
    if found["type"] == "account":
        return f"/accounts/{found['data']['info']['account_id']}"
    if found["type"] == "task":
        return f"/tasks/{found['data']['task_id']}"
    return f"/lists/{found['data']['list_id']}"


class SearchController(Controller):
    path = "/search"

    @get("/")
    async def search_element(self, request: AnyRequest) -> Response[Any]:
        q = Query(request).required_text("q", max_length=256)
        found = await search(q)
        mode = response_mode(request)
        if found is not None and mode is not Mode.JSON:
            return redirect(request, page_of(found))
        if found is None:
            error = LunaError("NOTHING_FOUND", q=q)
            if mode is Mode.JSON:
                raise error
            return respond(
                request,
                error.body(),
                page="pages/search/not_found.html",
                context={"q": q},
                status_code=404,
            )
        return respond(request, found, page="pages/search/not_found.html")
