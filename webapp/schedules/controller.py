"""Task schedules (routes 38-43): `/{api}/tasks/schedules`.

Mounted before TaskController, so `/tasks/schedules` is never read as a task id.
JSON only for now; the schedule pages are still to come.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath

from webapp.schedules import service
from webapp.web.body import read_raw_body
from webapp.web.errors import LunaError
from webapp.web.params import Query, parse_id

AnyRequest = Request[Any, Any, Any]

ACTIONS = {"pause": "paused", "start": "running"}


async def _parsed(
    request: AnyRequest, previous_task: dict[str, Any] | None = None
) -> service.ScheduleBody:
    body = await read_raw_body(request, service.SCHEDULE_SCHEMA)
    return service.parse_body(body, request.app.state.settings, previous_task)


class ScheduleController(Controller):
    path = "/tasks/schedules"

    @post("/", status_code=201)
    async def create_schedule(self, request: AnyRequest) -> Response[Any]:
        settings = request.app.state.settings
        schedule_id = await service.create_schedule(await _parsed(request), settings)
        return Response(
            content={"schedule_id": schedule_id},
            status_code=201,
            headers={"Location": f"{settings.api_prefix}/tasks/schedules/{schedule_id}"},
        )

    @get("/")
    async def get_schedules(self, request: AnyRequest) -> list[dict[str, Any]]:
        query = Query(request)
        gte, lt = query.time_range("create_time")
        filters = service.ScheduleFilters(
            task_type=query.integer("task_type", choices=set(range(10))),
            create_time_gte=gte,
            create_time_lt=lt,
        )
        return await service.list_schedules(filters, query.page())

    @get("/{schedule_id:str}")
    async def get_schedule(self, schedule_id: FromPath[str]) -> dict[str, Any]:
        return await service.get_schedule(parse_id(schedule_id, "schedule_id"))

    @put("/{schedule_id:str}", status_code=200)
    async def replace_schedule(
        self, request: AnyRequest, schedule_id: FromPath[str]
    ) -> dict[str, int]:
        sid = parse_id(schedule_id, "schedule_id")
        # 404 before 400: a body is not worth checking for a schedule that is not there.
        previous = await service.stored_task(sid)
        parsed = await _parsed(request, previous)
        await service.replace_schedule(sid, parsed, request.app.state.settings)
        return {"schedule_id": sid}

    @patch("/{schedule_id:str}", status_code=204)
    async def pause_or_start(self, request: AnyRequest, schedule_id: FromPath[str]) -> None:
        sid = parse_id(schedule_id, "schedule_id")
        action = Query(request).raw("action")
        if action is None:
            raise LunaError("MISSING_QUERY_PARAM", name="action")
        if action not in ACTIONS:
            raise LunaError("BAD_QUERY_PARAM", name="action")
        await service.set_status(sid, ACTIONS[action])

    @delete("/{schedule_id:str}", status_code=204)
    async def delete_schedule(self, schedule_id: FromPath[str]) -> None:
        await service.delete_schedule(parse_id(schedule_id, "schedule_id"))
