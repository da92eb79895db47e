"""Tasks (routes 22-37): `/{api}/tasks`, `/{api}/errors`, and the `/tasks` pages."""

from __future__ import annotations

import json
from typing import Any

from litestar import Controller, MediaType, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath
from litestar.response import Stream

from webapp.notify.policy import NOTIFICATION_POLICY_SCHEMA, check_destinations
from webapp.tasks import gc_confirm, queue, service
from webapp.tasks.account_removal import is_removal
from webapp.tasks.forms import TASK_FIELDS, form_errors, launch_context, typed_form
from webapp.tasks.gc import GcWork
from webapp.tasks.schemas import (
    additional_extract_schema,
    gc_schema,
)
from webapp.tasks.service import ErrorFilters, TaskFilters
from webapp.tasks.states import (
    STATUS_NAMES,
    TERMINAL,
    TYPE_NAMES,
    Status,
    TaskType,
)
from webapp.tasks.worker import make_work
from webapp.web.body import check_body, form_field, read_body
from webapp.web.errors import LunaError
from webapp.web.negotiation import Mode, redirect, render, respond, response_mode
from webapp.web.params import Page, Query, page_url, parse_id
from webapp.web.request_limits import load_json

AnyRequest = Request[Any, Any, Any]

TYPES = set(TYPE_NAMES)
STATUSES = {s.value for s in Status}


def task_filters(query: Query) -> TaskFilters:
    create_gte, create_lt = query.time_range("create_time")
    end_gte, end_lt = query.time_range("end_time")
    return TaskFilters(
        task_ids=query.int_list("task_ids"),
        create_time_gte=create_gte,
        create_time_lt=create_lt,
        end_time_gte=end_gte,
        end_time_lt=end_lt,
        task_type=query.integer("task_type", choices=TYPES),
        task_status=query.integer("task_status", choices=STATUSES),
        schedule_id=query.integer("schedule_id", minimum=1),
    )


def error_filters(query: Query, with_ids: bool = True) -> ErrorFilters:
    gte, lt = query.time("error_time__gte"), query.time("error_time__lt")
    return ErrorFilters(
        task_ids=query.int_list("task_ids") if with_ids else None,
        error_ids=query.int_list("error_ids") if with_ids else None,
        error_time_gte=gte,
        error_time_lt=lt,
        # task_error.error_code is a PostgreSQL integer
        error_code=query.integer("error_code", minimum=0, maximum=2**31 - 1),
        task_type=query.integer("task_type", choices=TYPES) if with_ids else None,
    )


def _settings(request: AnyRequest) -> Any:
    return request.app.state.settings


# ------------------------------------------------------------------ the pages

HX_STOP_POLLING = 286
"""htmx stops a poller that gets this status (litestar-htmx's HXStopPolling) and
still swaps the body in, so the last answer shows the final state."""

SUBTASKS_SHOWN = 200
"""Subtask rows on the task page (a huge task links to the JSON route for the rest)."""

ERRORS_SHOWN = 5
"""Newest errors on the task page; the errors page has them all, paged."""

LAUNCH_FORMS = {
    TaskType.GC: ("gc", "partials/tasks/_gc_form.html"),
    TaskType.ADDITIONAL_EXTRACT: ("extract", "partials/tasks/_extract_form.html"),
}


async def tasks_page_data(request: AnyRequest) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Route 22's data, and for the page its filters, paging and the launch forms."""
    query = Query(request)
    mode = response_mode(request)
    context: dict[str, Any] = {
        "query": dict(request.query_params),
        "pages_base": page_url(request, "/tasks", drop=("page", "page_size")),
        "poll_url": page_url(request, "/tasks"),
        "filter_error": None,
    }
    try:
        filters, page = task_filters(query), query.page()
    except LunaError as error:
        if mode is Mode.JSON:
            raise
        # The page stays usable: the filters again, with what is wrong with them.
        context.update(page=Page(page=1, page_size=10), total=0, filter_error=error.detail)
        return {"tasks": []}, {**context, **launch_context()}, 400
    tasks = await service.list_tasks(filters, page)
    context["page"] = page
    if mode is not Mode.JSON:
        context["total"] = await service.count_tasks(filters)
        context.update(launch_context())
        context["progress"] = await service.task_progress([t["task_id"] for t in tasks])
        if any(t["task_status"] == Status.PENDING for t in tasks):
            overview = await queue.overview(_settings(request).worker_dead_after_seconds)
            context["wait_reasons"] = {
                t["task_id"]: overview.wait_reason(t["task_id"])
                for t in tasks
                if t["task_status"] == Status.PENDING
            }
    return {"tasks": tasks}, context, 200


async def _create(
    request: AnyRequest, task_type: TaskType, schema: dict[str, Any]
) -> Response[Any]:
    try:
        body = await read_body(request, schema)
        settings = _settings(request)
        check_destinations(
            body.get("notification_policy"), settings.allowed_networks, "notification_policy."
        )
        work = make_work(int(task_type), body["content"], settings)
        if task_type == TaskType.ADDITIONAL_EXTRACT:
            _check_backend(work, body["content"])
        if isinstance(work, GcWork) and response_mode(request) is not Mode.JSON:
            stop = await _gc_form_step(request, body, work)
            if stop is not None:
                return stop
        task_id = await service.create_task(task_type, body, work)
    except LunaError as error:
        if response_mode(request) is Mode.JSON:
            raise
        return await _launch_form_with_error(request, task_type, error)
    if response_mode(request) is not Mode.JSON:
        return redirect(request, f"/tasks/{task_id}", f"Task {task_id} started")
    return Response(
        content={"task_id": task_id},
        status_code=201,
        headers={"Location": f"{settings.api_prefix}/tasks/{task_id}"},
    )


async def _gc_form_step(
    request: AnyRequest, body: dict[str, Any], work: GcWork
) -> Response[Any] | None:
    """The pages' steps before a GC runs (None: run it): back from the confirmation
    to the form, or the confirmation of a GC across every account."""
    if await form_field(request, "_back"):
        return await _launch_form(request, TaskType.GC, {}, 200)
    if not gc_confirm.needs_confirmation(work):
        return None
    if await form_field(request, gc_confirm.CONFIRM_FIELD) == "1":
        return None
    context = {
        "statement": await gc_confirm.statement(work),
        "fields": gc_confirm.form_fields(body),
    }
    if response_mode(request) is Mode.PAGE:
        return render(request, "pages/tasks/gc_confirm.html", context)
    return render(request, "partials/tasks/_gc_confirm.html", context)


async def _launch_form_with_error(
    request: AnyRequest, task_type: TaskType, error: LunaError
) -> Response[Any]:
    """The launch form again, with the values typed and the reason inline (422).

    Nothing was created: validation, planning and the insert all come before or
    inside the one transaction of `service.create_task`.
    """
    return await _launch_form(request, task_type, form_errors(error, TASK_FIELDS[task_type]), 422)


async def _launch_form(
    request: AnyRequest, task_type: TaskType, errors: dict[str, str], status_code: int
) -> Response[Any]:
    """The launch form with the values typed (and `errors` beside their fields)."""
    key, partial = LAUNCH_FORMS[task_type]
    form = await typed_form(request)
    if response_mode(request) is Mode.PAGE:
        # A plain form post (no JavaScript): the whole tasks page, this form in it.
        data, context, _ = await tasks_page_data(request)
        context.update({f"{key}_form": form, f"{key}_errors": errors})
        return render(request, "pages/tasks/index.html", {**context, "data": data}, status_code)
    context = {**launch_context(), "form": form, "errors": errors}
    return render(request, partial, context, status_code)


def _check_backend(work: Any, content: dict[str, Any]) -> None:
    """Refuse at creation what the configured backend cannot produce."""
    backend = work.backend
    target = content["extraction_target"]
    if target not in backend.targets:
        raise LunaError(
            "TARGET_NOT_SUPPORTED",
            reason=f"The extraction backend '{backend.name}' cannot extract '{target}'; "
            f"it extracts: {', '.join(sorted(backend.targets))}",
        )
    # 0 or none: the backend's own version.
    wanted = (content.get("options") or {}).get("descriptor_version") or None
    if target == "face_descriptor" and wanted not in (None, backend.descriptor_version):
        raise LunaError(
            "TARGET_NOT_SUPPORTED",
            reason=f"The extraction backend '{backend.name}' writes descriptor version "
            f"{backend.descriptor_version}, not {wanted}",
        )


async def task_page_context(task: dict[str, Any], settings: Any) -> dict[str, Any]:
    """What the task page shows besides the task: subtasks, newest errors, the result."""
    tid = task["task_id"]
    subtasks = await service.list_subtasks(tid)
    errors_filter = ErrorFilters(task_ids=[tid])
    error_count = await service.count_errors(errors_filter)
    errors = (
        await service.list_errors(errors_filter, Page(page=1, page_size=ERRORS_SHOWN))
        if error_count
        else []
    )
    done = task["task_status"] == Status.DONE
    result = await service.result_summary(tid) if done and task["result_id"] else None
    policy = task["notification_policy"] or {}
    progress = (await service.task_progress([tid]))[tid]
    run_this = None
    if task["task_type"] == TaskType.GC and task["content"].get("dry_run") and done:
        # The preview's page offers to run the same GC, stating what it would remove.
        run_this = {
            "what": gc_confirm.what(task["content"]),
            "across_accounts": not (task["content"].get("filters") or {}).get("account_id"),
            "fields": gc_confirm.form_fields(task),
        }
    wait_reason = None
    if task["task_status"] == Status.PENDING:
        wait_reason = (await queue.overview(settings.worker_dead_after_seconds)).wait_reason(tid)
    return {
        "subtasks": subtasks[:SUBTASKS_SHOWN],
        "subtask_count": len(subtasks),
        # A cancelled task's subtask whose batch was being written ends when that
        # batch does: the page polls on until every subtask shows how it ended.
        "settling": any(
            s["subtask_status"] in (Status.PENDING, Status.IN_PROGRESS) for s in subtasks
        ),
        "progress": progress,
        "wait_reason": wait_reason,
        "run_this": run_this,
        "errors": errors,
        "error_count": error_count,
        "result": result,
        "removal": is_removal(task["task_type"], task["content"]),
        "policy_callbacks": {
            name: len(policy.get(name) or []) for name in ("task_callbacks", "subtask_callbacks")
        },
    }


def _policy_error_message(error: LunaError) -> str:
    if error.kind.name != "JSON_VALIDATION":
        return error.detail
    path = str(error.params.get("path") or "")
    message = str(error.params.get("message") or "")
    if "does not match" in message:
        # The schema's regular expressions mean little to an operator.
        last = path.rsplit(".", 1)[-1]
        message = {
            "url": "must be an http:// or https:// URL (credentials go in authorization)",
            "token": "must be a Telegram bot token such as 123456:ABC-def",
        }.get(last, "does not have the expected form")
    return f"{path}: {message}" if path else message


def _parse_policy_text(text: str | None) -> Any:
    """The policy typed into the page's textarea; LunaError NO_JSON with the place of
    the mistake when it is not JSON."""
    if not text or not text.strip():
        raise LunaError("NO_JSON", reason="Type the policy as JSON; {} is the default policy")
    try:
        return load_json(text)
    except json.JSONDecodeError as exc:
        raise LunaError(
            "NO_JSON",
            reason=f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except (ValueError, RecursionError):
        raise LunaError("NO_JSON", reason="This is not valid JSON") from None


def _policy_page(
    request: AnyRequest,
    tid: int,
    policy: dict[str, Any] | None,
    text: str,
    error: str = "",
    status_code: int = 200,
) -> Response[Any]:
    context = {"task_id": tid, "policy_text": text, "policy_error": error}
    return respond(
        request,
        policy,
        page="pages/tasks/policy.html",
        partial="partials/tasks/_policy_form.html",
        context=context,
        status_code=status_code,
    )


class TaskController(Controller):
    path = "/tasks"

    @get("/")
    async def get_tasks(self, request: AnyRequest) -> Response[Any]:
        data, context, status_code = await tasks_page_data(request)
        return respond(
            request,
            data,
            page="pages/tasks/index.html",
            partial="partials/tasks/_table.html",
            context=context,
            status_code=status_code,
        )

    @get("/count")
    async def get_task_count(self, request: AnyRequest) -> dict[str, int]:
        return {"count": await service.count_tasks(task_filters(Query(request)))}

    @post("/gc", status_code=201)
    async def create_gc_task(self, request: AnyRequest) -> Response[Any]:
        return await _create(request, TaskType.GC, gc_schema())

    @post("/additional_extract", status_code=201)
    async def create_additional_extract_task(self, request: AnyRequest) -> Response[Any]:
        return await _create(request, TaskType.ADDITIONAL_EXTRACT, additional_extract_schema())

    @get(["/gc", "/additional_extract"], include_in_schema=False)
    async def launch_form_address(self, request: AnyRequest) -> Response[Any]:
        """A browser that reloads the address of a launch form in error (a plain form
        post lands there) is sent to the forms; for the API nothing changes: these
        are not task ids."""
        if response_mode(request) is Mode.JSON:
            parse_id(request.url.path.rsplit("/", 1)[-1], "task_id")
        anchor = "launch-gc" if request.url.path.endswith("/gc") else "launch-extract"
        return redirect(request, f"/tasks#{anchor}")

    @get("/{task_id:str}")
    async def get_task(self, request: AnyRequest, task_id: FromPath[str]) -> Response[Any]:
        task = await service.get_task(parse_id(task_id, "task_id"))
        terminal = Status(task["task_status"]) in TERMINAL
        context: dict[str, Any] = {"terminal": terminal}
        mode = response_mode(request)
        status_code = 200
        if mode is not Mode.JSON:
            context.update(await task_page_context(task, _settings(request)))
        if mode is Mode.PARTIAL:
            # The progress poller's answer: subtasks and errors ride along out of
            # band; once the task has ended the poller is told to stop.
            context["oob"] = True
            status_code = HX_STOP_POLLING if terminal and not context["settling"] else 200
        return respond(
            request,
            task,
            page="pages/tasks/detail.html",
            partial="partials/tasks/_progress.html",
            context=context,
            status_code=status_code,
        )

    @patch("/{task_id:str}", status_code=204)
    async def cancel_task(self, request: AnyRequest, task_id: FromPath[str]) -> Response[None]:
        tid = parse_id(task_id, "task_id")
        await service.cancel_task(tid)
        if response_mode(request) is not Mode.JSON:
            return redirect(request, f"/tasks/{tid}", f"Task {tid} cancelled")
        return Response(content=None, status_code=204)

    @post("/{task_id:str}/cancel", include_in_schema=False)
    async def cancel_task_form(self, request: AnyRequest, task_id: FromPath[str]) -> Response[Any]:
        tid = parse_id(task_id, "task_id")
        try:
            await service.cancel_task(tid)
        except LunaError as error:
            if error.kind.name != "TASK_NOT_CANCELLABLE" or response_mode(request) is Mode.JSON:
                raise
            # It ended while the operator was deciding: say so on its page.
            task = await service.get_task(tid)
            status = STATUS_NAMES.get(task["task_status"], task["task_status"])
            return redirect(request, f"/tasks/{tid}", f"Task {tid} had already ended ({status})")
        return redirect(request, f"/tasks/{tid}", f"Task {tid} cancelled")

    @delete("/{task_id:str}", status_code=204)
    async def delete_task(self, request: AnyRequest, task_id: FromPath[str]) -> Response[None]:
        tid = parse_id(task_id, "task_id")
        await service.ensure_task(tid)
        await service.delete_task(tid)
        if response_mode(request) is not Mode.JSON:
            return redirect(request, "/tasks", f"Task {tid} deleted")
        return Response(content=None, status_code=204)

    @post("/{task_id:str}/delete", include_in_schema=False)
    async def delete_task_form(self, request: AnyRequest, task_id: FromPath[str]) -> Response[Any]:
        """The page's delete form: the operator types the task number to confirm."""
        tid = parse_id(task_id, "task_id")
        task = await service.get_task(tid)
        typed = (await form_field(request, "_confirm") or "").strip()
        if typed != str(tid):
            error = LunaError("CONFIRMATION_MISMATCH", expected=tid)
            if response_mode(request) is not Mode.PAGE:
                raise error
            # The task page again, the reason beside the confirmation field.
            context = {
                "terminal": Status(task["task_status"]) in TERMINAL,
                "delete_error": error.detail,
                **await task_page_context(task, _settings(request)),
            }
            return render(request, "pages/tasks/detail.html", {"data": task, **context}, 422)
        await service.delete_task(tid)
        return redirect(request, "/tasks", f"Task {tid} deleted")

    @get("/{task_id:str}/notification_policy")
    async def get_policy(self, request: AnyRequest, task_id: FromPath[str]) -> Response[Any]:
        tid = parse_id(task_id, "task_id")
        policy = await service.get_policy(tid)
        return _policy_page(request, tid, policy, json.dumps(policy, indent=2))

    @put("/{task_id:str}/notification_policy", status_code=204)
    async def replace_policy(self, request: AnyRequest, task_id: FromPath[str]) -> Response[None]:
        tid = parse_id(task_id, "task_id")
        body = await read_body(request, NOTIFICATION_POLICY_SCHEMA)
        check_destinations(body, _settings(request).allowed_networks)
        await service.replace_policy(tid, body)
        return Response(content=None, status_code=204)

    @post("/{task_id:str}/notification_policy", include_in_schema=False)
    async def replace_policy_form(
        self, request: AnyRequest, task_id: FromPath[str]
    ) -> Response[Any]:
        """The page's policy editor: the policy typed as JSON in the `policy` field,
        checked exactly as the PUT route checks its body; masked secrets are kept."""
        tid = parse_id(task_id, "task_id")
        await service.ensure_task(tid)
        text = await form_field(request, "policy")
        try:
            policy = _parse_policy_text(text)
            check_body(policy, NOTIFICATION_POLICY_SCHEMA)
            check_destinations(policy, _settings(request).allowed_networks)
            await service.replace_policy(tid, policy)
        except LunaError as error:
            if response_mode(request) is Mode.JSON:
                raise
            shown = await service.get_policy(tid)
            message = error.params.get("reason") or _policy_error_message(error)
            return _policy_page(request, tid, shown, text or "", str(message), 422)
        return redirect(
            request,
            f"/tasks/{tid}/notification_policy",
            f"Notification policy of task {tid} saved",
        )

    @get("/{task_id:str}/result")
    async def get_result(self, request: AnyRequest, task_id: FromPath[str]) -> Response[Any]:
        tid = parse_id(task_id, "task_id")
        result = await service.get_result(tid)
        # A download from the page: the browser saves it as a file.
        disposition = {"Content-Disposition": f'attachment; filename="task-{tid}-result.json"'}
        download = Query(request).raw("download") is not None
        # Streamed: a result can list a million ids, read from their parts as they go out.
        return Stream(
            service.result_json(result),
            media_type=MediaType.JSON,
            headers=disposition if download else {},
        )

    @get("/{task_id:str}/errors")
    async def get_task_errors(self, request: AnyRequest, task_id: FromPath[str]) -> Response[Any]:
        tid = parse_id(task_id, "task_id")
        await service.ensure_task(tid)
        query = Query(request)
        filters = error_filters(query, with_ids=False)
        filters.task_ids = [tid]
        page = query.page()
        errors = await service.list_errors(filters, page)
        context: dict[str, Any] = {"task_id": tid, "page": page}
        if response_mode(request) is not Mode.JSON:
            context["total"] = await service.count_errors(filters)
        return respond(
            request,
            {"errors": errors},
            page="pages/tasks/errors.html",
            partial="partials/tasks/_errors.html",
            context=context,
        )

    @get("/{task_id:str}/errors/count")
    async def count_task_errors(
        self, request: AnyRequest, task_id: FromPath[str]
    ) -> dict[str, int]:
        tid = parse_id(task_id, "task_id")
        await service.ensure_task(tid)
        filters = error_filters(Query(request), with_ids=False)
        filters.task_ids = [tid]
        return {"count": await service.count_errors(filters)}

    @get("/{task_id:str}/subtasks")
    async def get_subtasks(self, request: AnyRequest, task_id: FromPath[str]) -> dict[str, Any]:
        return {"subtasks": await service.list_subtasks(parse_id(task_id, "task_id"))}


class ErrorController(Controller):
    path = "/errors"

    @get("/")
    async def get_errors(self, request: AnyRequest) -> dict[str, Any]:
        query = Query(request)
        return {"errors": await service.list_errors(error_filters(query), query.page())}

    @get("/count")
    async def get_error_count(self, request: AnyRequest) -> dict[str, int]:
        return {"count": await service.count_errors(error_filters(Query(request)))}

    @get("/{error_id:str}")
    async def get_error(self, request: AnyRequest, error_id: FromPath[str]) -> dict[str, Any]:
        return await service.get_error(parse_id(error_id, "error_id"))
