"""Task schedules (routes 38-43): `/{api}/tasks/schedules`, and the schedule pages.

Mounted before TaskController, so `/tasks/schedules` is never read as a task id.
The same handlers answer JSON and the pages; the forms of the pages post to
routes of their own (`/edit`, `/status`, `/delete`) because an HTML form can
neither PUT, PATCH nor DELETE, and those routes share the services with the API.
Extensions: `/preview` (a trigger in words and its next fire times), `/{id}/run`
(run now) and `/{id}/fires` (the history of fires).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath

from webapp.schedules import service
from webapp.schedules.words import describe, preview
from webapp.schedules.zones import zone_names
from webapp.settings import Settings
from webapp.tasks.forms import TASK_FIELDS, form_choices, form_errors, typed_form
from webapp.tasks.states import TaskType
from webapp.web.body import form_field, read_raw_body
from webapp.web.errors import LunaError
from webapp.web.negotiation import Mode, redirect, render, respond, response_mode
from webapp.web.params import Page, Query, page_url, parse_id

AnyRequest = Request[Any, Any, Any]

ACTIONS = {"pause": "paused", "start": "running"}
PAGE_PATH = "/tasks/schedules"
FIRES_SHOWN = 20
"""Fires per page of a schedule's history."""
PREVIEW_COUNT = 5
"""Fire times the preview shows unless asked (`count`, 1..PREVIEW_MAX)."""
PREVIEW_MAX = 100
PREVIEW_YEARS = (1900, 9998)
"""The years a preview's `start` may fall in."""

SCHEDULE_FIELDS = (
    "trigger.cron",
    "trigger.cron_timezone",
    "behaviour.start_immediately",
    "behaviour.create_stopped",
)
SCHEDULE_HINTS = {
    "trigger.cron": "Enter five fields: minute hour day-of-month month day-of-week, "
    "such as 5 4 * * *",
    "trigger.cron_timezone": "Enter utc, local, or an IANA zone name such as Europe/Berlin",
}
"""Hints for what the schema refuses; the trigger check's own reasons (a wrong
field, an unknown zone) are already worded for people and are shown as they are."""


def _settings(request: AnyRequest) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _form_task_type(value: str | None) -> int:
    """The task type a schedule page form is for (GC unless it says extraction)."""
    if value and value.strip().isdigit() and int(value) in service.SCHEDULABLE:
        return int(value)
    return int(TaskType.GC)


async def _parsed(
    request: AnyRequest, previous_task: dict[str, Any] | None = None
) -> service.ScheduleBody:
    schema = service.SCHEDULE_SCHEMA
    if response_mode(request) is not Mode.JSON:
        # A form's strings get the types of its task type's schema.
        task_type = await form_field(request, "task.task_type")
        schema = service.form_schema(_form_task_type(task_type))
    body = await read_raw_body(request, schema)
    return service.parse_body(body, _settings(request), previous_task)


def _trigger_query(query: Query) -> dict[str, str]:
    """The trigger a preview asks about: `cron` and `cron_timezone`, or the schedule
    form's own names (`trigger.cron`, ...), which the page's live preview sends. An
    empty `cron_timezone` is refused as a schedule's would be; none at all is utc, and
    so is the form's zone left blank (the form's post reads a blank field as not given)."""
    cron = query.raw("cron")
    if cron is None:
        cron = query.raw("trigger.cron")
    if cron is None:
        raise LunaError("MISSING_QUERY_PARAM", name="cron")
    timezone = query.raw("cron_timezone")
    if timezone is None:
        timezone = query.raw("trigger.cron_timezone") or None
    return {"cron": cron, "cron_timezone": "utc" if timezone is None else timezone}


def _preview_start(query: Query) -> datetime | None:
    """`start` (or the form's `_preview_start`): ISO 8601; with no offset it is a time
    on the trigger's zone's clock (a date alone is its midnight). None (now) when
    empty or absent."""
    text = query.raw("start")
    name = "start"
    if text is None:
        text, name = query.raw("_preview_start"), "_preview_start"
    if text is None or not text.strip():
        return None
    try:
        start = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LunaError("BAD_QUERY_PARAM", name=name) from None
    if not PREVIEW_YEARS[0] <= start.year <= PREVIEW_YEARS[1]:
        raise LunaError("BAD_QUERY_PARAM", name=name)
    return start


def _preview_query(query: Query) -> tuple[dict[str, str], datetime | None, int]:
    count = query.integer("count", PREVIEW_COUNT, minimum=1, maximum=PREVIEW_MAX)
    return _trigger_query(query), _preview_start(query), count or PREVIEW_COUNT


def _preview_context(
    trigger: dict[str, str], start: datetime | None = None, count: int = PREVIEW_COUNT
) -> dict[str, Any]:
    zone_name = trigger.get("cron_timezone") or "utc"
    context: dict[str, Any] = {"preview_zone": zone_name, "preview_start": start}
    try:
        shown = preview(trigger, count, start)
    except LunaError as error:
        message = str(error.params.get("message") or error.detail)
        return {**context, "preview": None, "preview_error": message}
    return {**context, "preview": shown, "preview_error": ""}


def _preview_page(query: Query) -> dict[str, Any]:
    """The form's live preview; what is wrong (a start typed by hand too) shown in it."""
    try:
        trigger, start, count = _preview_query(query)
    except LunaError as error:
        if error.kind.name == "MISSING_QUERY_PARAM":
            raise
        message = error.detail
        if error.params.get("name") == "_preview_start":
            first, last = PREVIEW_YEARS
            message = f"Preview runs after: enter a date and time of the years {first}-{last}"
        return {"preview": None, "preview_error": message, "preview_zone": "utc"}
    return _preview_context(trigger, start, count)


def _form_values(task: dict[str, Any], trigger: dict[str, Any]) -> dict[str, str]:
    """A stored schedule as the form's fields (dotted names, strings)."""
    values: dict[str, str] = {}

    def walk(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{name}.{key}")
        elif isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif value is not None and not isinstance(value, list):
            values[name] = str(value)

    walk({k: v for k, v in task.items() if k != "notification_policy"}, "task")
    walk(trigger, "trigger")
    return values


def _form_context(
    form: dict[str, str],
    errors: dict[str, str],
    schedule: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The schedule form: a new schedule (`schedule` None) or an edit."""
    task_type = _form_task_type(form.get("task.task_type"))
    trigger = {
        "cron": form.get("trigger.cron", ""),
        "cron_timezone": form.get("trigger.cron_timezone") or "utc",
    }
    action = f"{PAGE_PATH}/{schedule['schedule_id']}/edit" if schedule else PAGE_PATH
    return {
        **form_choices(),
        **(_preview_context(trigger) if trigger["cron"].strip() else {}),
        "form": {**form, "task.task_type": str(task_type)},
        "errors": errors,
        "task_type": task_type,
        "schedule": schedule,
        "form_action": action,
        "zones": zone_names(),
    }


async def _form_with_error(
    request: AnyRequest, error: LunaError, schedule: dict[str, Any] | None = None
) -> Response[Any]:
    """The form again, with the values typed and the reasons inline (422); nothing
    was stored (parse_body checks everything before any write)."""
    form = await typed_form(request)
    task_type = _form_task_type(form.get("task.task_type"))
    errors = form_errors(
        error,
        SCHEDULE_FIELDS + tuple(f"task.{name}" for name in TASK_FIELDS[TaskType(task_type)]),
        prefix="task.",
        hints=SCHEDULE_HINTS,
    )
    if error.kind.name == "JSON_VALIDATION" and str(error.params.get("path", "")).startswith(
        "trigger."
    ):
        # The trigger check's reasons name the mistake ("... must have five fields").
        path = str(error.params["path"])
        message = str(error.params.get("message") or "")
        errors = {path: SCHEDULE_HINTS[path] if "is too" in message else message}
    context = _form_context(form, errors, schedule)
    template = (
        "pages/schedules/form.html"
        if response_mode(request) is Mode.PAGE
        else "partials/schedules/_form.html"
    )
    return render(request, template, context, 422)


def _filters(query: Query) -> service.ScheduleFilters:
    gte, lt = query.time_range("create_time")
    return service.ScheduleFilters(
        task_type=query.integer("task_type", choices=set(range(10))),
        create_time_gte=gte,
        create_time_lt=lt,
    )


async def _list_page_data(
    request: AnyRequest,
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Route 39's bare array, and for the page its filters, paging and the newest
    fire of each schedule."""
    query = Query(request)
    mode = response_mode(request)
    context: dict[str, Any] = {
        "query": dict(request.query_params),
        "pages_base": page_url(request, PAGE_PATH, drop=("page", "page_size")),
        "filter_error": None,
    }
    try:
        filters, page = _filters(query), query.page()
    except LunaError as error:
        if mode is Mode.JSON:
            raise
        context.update(page=Page(page=1, page_size=10), total=0, filter_error=error.detail)
        context.update(last_fires={}, words={}, notes={}, day_rule_ids=[])
        return [], context, 400
    schedules = await service.list_schedules(filters, page)
    context["page"] = page
    if mode is not Mode.JSON:
        ids = [s["schedule_id"] for s in schedules]
        context["total"] = await service.count_schedules(filters)
        context["last_fires"] = await service.last_fires(ids)
        context["words"] = {s["schedule_id"]: describe(s["trigger"]["cron"]) for s in schedules}
        context["notes"] = await service.trigger_notes(schedules)
        context["day_rule_ids"] = await service.day_rule_changed_ids()
    return schedules, context, 200


async def _detail_context(request: AnyRequest, schedule: dict[str, Any]) -> dict[str, Any]:
    sid = schedule["schedule_id"]
    page = Query(request).page(default_size=FIRES_SHOWN)
    policy = schedule["task"].get("notification_policy") or {}
    return {
        "words": describe(schedule["trigger"]["cron"]),
        "note": (await service.trigger_notes([schedule])).get(sid),
        "fires": await service.list_fires(sid, page),
        "fires_total": await service.count_fires(sid),
        "page": page,
        "pages_base": f"{PAGE_PATH}/{sid}",
        "policy_callbacks": sum(
            len(policy.get(name) or []) for name in ("task_callbacks", "subtask_callbacks")
        ),
    }


async def _detail_page(
    request: AnyRequest, sid: int, status_code: int = 200, **extra: Any
) -> Response[Any]:
    schedule = await service.get_schedule(sid)
    context = {**await _detail_context(request, schedule), **extra}
    return render(
        request, "pages/schedules/detail.html", {"data": schedule, **context}, status_code
    )


class ScheduleController(Controller):
    path = PAGE_PATH

    @post("/", status_code=201)
    async def create_schedule(self, request: AnyRequest) -> Response[Any]:
        settings = _settings(request)
        try:
            schedule_id = await service.create_schedule(await _parsed(request), settings)
        except LunaError as error:
            if response_mode(request) is Mode.JSON:
                raise
            return await _form_with_error(request, error)
        if response_mode(request) is not Mode.JSON:
            return redirect(
                request, f"{PAGE_PATH}/{schedule_id}", f"Schedule {schedule_id} created"
            )
        return Response(
            content={"schedule_id": schedule_id},
            status_code=201,
            headers={"Location": f"{settings.api_prefix}{PAGE_PATH}/{schedule_id}"},
        )

    @get("/")
    async def get_schedules(self, request: AnyRequest) -> Response[Any]:
        data, context, status_code = await _list_page_data(request)
        return respond(
            request,
            data,
            page="pages/schedules/index.html",
            partial="partials/schedules/_table.html",
            context=context,
            status_code=status_code,
        )

    @get("/new", include_in_schema=False)
    async def new_schedule_form(self, request: AnyRequest) -> Response[Any]:
        """The form of a new schedule (`?task_type=8` for an extraction)."""
        if response_mode(request) is Mode.JSON:
            parse_id("new", "schedule_id")  # for the API this is a bad id, as before
        task_type = _form_task_type(Query(request).raw("task_type"))
        form = {"task.task_type": str(task_type), "trigger.cron": "0 3 * * *"}
        return render(request, "pages/schedules/form.html", _form_context(form, {}))

    @get("/preview")
    async def preview_trigger(self, request: AnyRequest) -> Response[Any]:
        """A trigger in words and its first `count` fire times after `start`, on its
        zone's clock (an extension; the form's live preview). The trigger is checked
        as a schedule's is."""
        query = Query(request)
        if response_mode(request) is not Mode.JSON:
            return render(request, "partials/schedules/_preview.html", _preview_page(query))
        trigger, start, count = _preview_query(query)
        try:
            return Response(content=preview(trigger, count, start))
        except LunaError as error:
            path = str(error.params.get("path", ""))
            if error.kind.name != "JSON_VALIDATION" or not path.startswith("trigger."):
                raise
            message = str(error.params.get("message", ""))
            raise LunaError(
                "BAD_TRIGGER_QUERY", name=path.removeprefix("trigger."), message=message
            ) from None

    @get("/{schedule_id:str}")
    async def get_schedule(self, request: AnyRequest, schedule_id: FromPath[str]) -> Response[Any]:
        schedule = await service.get_schedule(parse_id(schedule_id, "schedule_id"))
        context = (
            {} if response_mode(request) is Mode.JSON else await _detail_context(request, schedule)
        )
        return respond(
            request,
            schedule,
            page="pages/schedules/detail.html",
            partial="partials/schedules/_fires.html",
            context=context,
        )

    @get("/{schedule_id:str}/edit", include_in_schema=False)
    async def edit_schedule_form(
        self, request: AnyRequest, schedule_id: FromPath[str]
    ) -> Response[Any]:
        schedule = await service.get_schedule(parse_id(schedule_id, "schedule_id"))
        form = _form_values(schedule["task"], schedule["trigger"])
        if schedule["status"] == "paused":
            form["behaviour.create_stopped"] = "true"
        return render(request, "pages/schedules/form.html", _form_context(form, {}, schedule))

    @post("/{schedule_id:str}/edit", include_in_schema=False)
    async def edit_schedule(self, request: AnyRequest, schedule_id: FromPath[str]) -> Response[Any]:
        """The edit form: a replace (PUT) whose task keeps its notification policy,
        which the form does not show."""
        sid = parse_id(schedule_id, "schedule_id")
        schedule = await service.get_schedule(sid)
        previous = await service.stored_task(sid)
        try:
            parsed = await _parsed(request, previous)
            if "notification_policy" in previous and "notification_policy" not in parsed.task:
                parsed.task["notification_policy"] = previous["notification_policy"]
            await service.replace_schedule(sid, parsed, _settings(request))
        except LunaError as error:
            if response_mode(request) is Mode.JSON:
                raise
            return await _form_with_error(request, error, schedule)
        return redirect(request, f"{PAGE_PATH}/{sid}", f"Schedule {sid} saved")

    @put("/{schedule_id:str}", status_code=200)
    async def replace_schedule(
        self, request: AnyRequest, schedule_id: FromPath[str]
    ) -> dict[str, int]:
        sid = parse_id(schedule_id, "schedule_id")
        # 404 before 400: a body is not worth checking for a schedule that is not there.
        previous = await service.stored_task(sid)
        parsed = await _parsed(request, previous)
        await service.replace_schedule(sid, parsed, _settings(request))
        return {"schedule_id": sid}

    @patch("/{schedule_id:str}", status_code=204)
    async def pause_or_start(
        self, request: AnyRequest, schedule_id: FromPath[str]
    ) -> Response[None]:
        sid = parse_id(schedule_id, "schedule_id")
        action = Query(request).raw("action")
        return await _set_status(request, sid, action)

    @post("/{schedule_id:str}/status", include_in_schema=False)
    async def pause_or_start_form(
        self, request: AnyRequest, schedule_id: FromPath[str]
    ) -> Response[None]:
        """The pages' pause and start buttons (a form field `action`)."""
        sid = parse_id(schedule_id, "schedule_id")
        return await _set_status(request, sid, await form_field(request, "action"))

    @post("/{schedule_id:str}/run", status_code=201)
    async def run_now(self, request: AnyRequest, schedule_id: FromPath[str]) -> Response[Any]:
        """Run now (an extension): one task at once, under the overlap rule."""
        sid = parse_id(schedule_id, "schedule_id")
        settings = _settings(request)
        try:
            task_id = await service.run_now(sid, settings)
        except LunaError as error:
            if error.kind.name != "SCHEDULE_TASK_UNFINISHED" or response_mode(request) is Mode.JSON:
                raise
            return redirect(request, f"{PAGE_PATH}/{sid}", f"Not run: {error.params['reason']}")
        if response_mode(request) is not Mode.JSON:
            return redirect(
                request, f"/tasks/{task_id}", f"Task {task_id} started by schedule {sid}"
            )
        return Response(
            content={"task_id": task_id},
            status_code=201,
            headers={"Location": f"{settings.api_prefix}/tasks/{task_id}"},
        )

    @get("/{schedule_id:str}/fires")
    async def get_fires(self, request: AnyRequest, schedule_id: FromPath[str]) -> Response[Any]:
        """A schedule's history of fires, newest first (an extension)."""
        sid = parse_id(schedule_id, "schedule_id")
        await service.stored_task(sid)  # 404 for a schedule that is not there
        query = Query(request)
        page = query.page(default_size=FIRES_SHOWN)
        fires = await service.list_fires(sid, page)
        return Response(content={"fires": fires})

    @delete("/{schedule_id:str}", status_code=204)
    async def delete_schedule(
        self, request: AnyRequest, schedule_id: FromPath[str]
    ) -> Response[None]:
        sid = parse_id(schedule_id, "schedule_id")
        await service.delete_schedule(sid)
        if response_mode(request) is not Mode.JSON:
            return redirect(request, PAGE_PATH, f"Schedule {sid} deleted")
        return Response(content=None, status_code=204)

    @post("/{schedule_id:str}/delete", include_in_schema=False)
    async def delete_schedule_form(
        self, request: AnyRequest, schedule_id: FromPath[str]
    ) -> Response[Any]:
        """The page's delete form: the operator types the schedule number to confirm."""
        sid = parse_id(schedule_id, "schedule_id")
        await service.stored_task(sid)
        typed = (await form_field(request, "_confirm") or "").strip()
        if typed != str(sid):
            error = LunaError("CONFIRMATION_MISMATCH", expected=sid)
            if response_mode(request) is not Mode.PAGE:
                raise error
            return await _detail_page(request, sid, 422, delete_error=error.detail)
        await service.delete_schedule(sid)
        return redirect(request, PAGE_PATH, f"Schedule {sid} deleted; its tasks stay")


async def _set_status(request: AnyRequest, sid: int, action: str | None) -> Response[None]:
    if action is None:
        raise LunaError("MISSING_QUERY_PARAM", name="action")
    if action not in ACTIONS:
        raise LunaError("BAD_QUERY_PARAM", name="action")
    await service.set_status(sid, ACTIONS[action])
    if response_mode(request) is not Mode.JSON:
        done = "paused" if action == "pause" else "started"
        return redirect(request, f"{PAGE_PATH}/{sid}", f"Schedule {sid} {done}")
    return Response(content=None, status_code=204)
