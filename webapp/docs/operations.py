"""The declaration of every documented handler that does not carry its own.

Bodies point at the very schemas the handlers validate with; query parameters
mirror the `Query` calls of the handlers (names, types, ranges, enums). A
handler added without a declaration here (or an `opt={"openapi": ...}` of its
own) stops the document from building, and tests/integration/test_openapi.py
names it.

Imported lazily by the generator, after webapp.app has been built.
"""

from __future__ import annotations

from typing import Any

from webapp.accounts import service as accounts
from webapp.accounts.controller import AccountController
from webapp.accounts.login_controller import LoginApiController
from webapp.audit.vocabulary import ACTIONS as AUDIT_ACTIONS
from webapp.audit.vocabulary import DOMAINS as AUDIT_DOMAINS
from webapp.audit.vocabulary import TARGET_TYPES as AUDIT_TARGETS
from webapp.docs.manual import PAGE_FILE_PATTERN
from webapp.docs.registry import Operation, Param, Reply, declare
from webapp.docs.schemas import ref
from webapp.notify.policy import NOTIFICATION_POLICY_SCHEMA
from webapp.platform.controller import ListController
from webapp.schedules import service as schedules
from webapp.schedules.controller import (
    ACTIONS,
    FIRES_SHOWN,
    PREVIEW_COUNT,
    PREVIEW_MAX,
    PREVIEW_YEARS,
    ScheduleController,
)
from webapp.search.controller import SearchController
from webapp.system import controller as system_controller
from webapp.system.settings_catalog import BY_NAME as SETTINGS
from webapp.tasks.controller import STATUSES, TYPES, ErrorController, TaskController
from webapp.tasks.schemas import additional_extract_schema, gc_schema
from webapp.tasks.workers_controller import WorkerController
from webapp.web.params import MAX_PAGE, UUID_RE

JsonSchema = dict[str, Any]

# ------------------------------------------------------------ query parameters
# As webapp.web.params.Query reads them.

MAX_DIGITS = 10**18 - 1
"""Query.integer and parse_id take at most 18 digits (ids are bigint)."""

TIME: JsonSchema = {"type": "string", "format": "date-time"}


def paging(default_size: int = 10) -> tuple[Param, ...]:
    return (
        Param(
            "page",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            "page number, from 1",
        ),
        Param(
            "page_size",
            {"type": "integer", "minimum": 1, "maximum": 1000, "default": default_size},
            "items per page",
        ),
    )


def time_range(field: str) -> tuple[Param, ...]:
    return (
        Param(f"{field}__gte", TIME, f"{field} at or after this time (ISO 8601 with a zone)"),
        Param(f"{field}__lt", TIME, f"{field} before this time (ISO 8601 with a zone)"),
    )


def id_list(name: str, what: str) -> Param:
    """Query.int_list: up to 1000 ids of up to 18 digits, each at least 1, comma
    separated. Published as a string with that form rather than an array: every
    string outside the pattern is refused, which an array schema cannot say."""
    return Param(
        name,
        {"type": "string", "pattern": r"^[0-9]{1,18}(,[0-9]{1,18}){0,999}$"},
        f"{what}, comma separated (`{name}=1,2,3`), each at least 1, at most 1000",
    )


def integer(name: str, description: str, **limits: Any) -> Param:
    return Param(name, {"type": "integer", **limits}, description)


UUID_PARAM: JsonSchema = {"type": "string", "format": "uuid", "pattern": UUID_RE.pattern}
ID_PARAM: JsonSchema = {"type": "integer", "minimum": 1, "maximum": MAX_DIGITS}

PATH_PARAMETERS: dict[str, tuple[JsonSchema, str]] = {
    "account_id": (UUID_PARAM, "account id (lower-case hyphenated UUID)"),
    "list_id": (UUID_PARAM, "list id (lower-case hyphenated UUID)"),
    "task_id": (ID_PARAM, "task id"),
    "error_id": (ID_PARAM, "task error id"),
    "schedule_id": (ID_PARAM, "task schedule id"),
    "name": (
        {"type": "string", "enum": sorted(SETTINGS)},
        "a setting's name (GET /{api}/settings lists them)",
    ),
    "page": (
        {"type": "string", "pattern": PAGE_FILE_PATTERN},
        "a page of the manual: the name of a docs/*.md file, with .html",
    ),
}
"""Every path parameter name of the route table, as parse_uuid / parse_id take it
(routes declare them as `str` so that a bad value gets our own 400)."""
TASK_TYPE = integer("task_type", "task type", enum=sorted(TYPES))

TASK_FILTERS = (
    id_list("task_ids", "task ids"),
    *time_range("create_time"),
    *time_range("end_time"),
    TASK_TYPE,
    integer("task_status", "task status", enum=sorted(STATUSES)),
    integer("schedule_id", "tasks created by this schedule", minimum=1, maximum=MAX_DIGITS),
)
ERROR_TIME_FILTERS = (
    *time_range("error_time"),
    integer("error_code", "error code", minimum=0, maximum=2**31 - 1),
)
ERROR_FILTERS = (
    id_list("task_ids", "task ids"),
    id_list("error_ids", "error ids"),
    *ERROR_TIME_FILTERS,
    TASK_TYPE,
)

# ------------------------------------------------------------------ answers

LOCATION = (("Location", "the address of what was created"),)
SESSION_COOKIE = (("Set-Cookie", "the session cookie luna_admin_session"),)


def ok(schema: str, description: str = "OK") -> Reply:
    return Reply(200, description, ref(schema))


def created(schema: str, what: str) -> Reply:
    return Reply(201, f"{what} created", ref(schema), headers=LOCATION)


def no_content(description: str) -> Reply:
    return Reply(204, description)


# --------------------------------------------------------------- request bodies


def schedule_body() -> JsonSchema:
    """SCHEDULE_SCHEMA with its `task` spelled out: the handler checks `task` against
    the schema of its task type (schedules.parse_body), so the document shows one
    branch per schedulable type, each that type's own task schema."""
    base = schedules.SCHEDULE_SCHEMA
    branches = []
    for task_type, task_schema in sorted(schedules.SCHEDULABLE.items()):
        schema = task_schema()
        branches.append(
            {
                **schema,
                "properties": {"task_type": {"const": task_type}, **schema["properties"]},
                "required": ["task_type", *schema.get("required", [])],
            }
        )
    return {**base, "properties": {**base["properties"], "task": {"oneOf": branches}}}


# -------------------------------------------------------------- declarations

_ACCOUNTS_PAGE = Operation(
    summary="get accounts with filters",
    tag="accounts",
    description="Newest first; `account_count` counts every account that matches the filters.",
    query=(*paging(), *time_range("create_time")),
    replies=(ok("Accounts"),),
    page=True,
)

declare(
    "webapp.app.home",
    Operation(
        summary="account info form (the home page)",
        tag="pages",
        description="The accounts table; for JSON clients the same answer as GET /{api}/accounts.",
        query=_ACCOUNTS_PAGE.query,
        replies=_ACCOUNTS_PAGE.replies,
        page=True,
    ),
)
declare(AccountController.list_accounts, _ACCOUNTS_PAGE)
declare(
    AccountController.create_account,
    Operation(
        summary="register a new account",
        tag="accounts",
        description="The legacy scheme (`email`, `organization_name`) is accepted and mapped "
        "onto `login` and `description`.",
        body=accounts.ACCOUNT_SCHEMA,
        body_name="NewAccount",
        replies=(created("AccountCreated", "account"),),
        creates="account_id",
        errors=("LOGIN_TAKEN",),
        form=True,
    ),
)
declare(
    AccountController.get_account,
    Operation(
        summary="get account info",
        tag="accounts",
        replies=(ok("AccountWithStats"),),
        errors=("ACCOUNT_NOT_FOUND",),
        page=True,
    ),
)
declare(
    AccountController.create_account_with_id,
    Operation(
        summary="register account with id",
        tag="accounts",
        body=accounts.ACCOUNT_SCHEMA,
        body_name="NewAccount",
        replies=(created("AccountCreated", "account"),),
        creates="account_id",
        errors=("LOGIN_TAKEN", "ACCOUNT_ID_TAKEN", "ACCOUNT_BEING_REMOVED"),
        form=True,
    ),
)
declare(
    AccountController.remove_account,
    Operation(
        summary="remove account",
        tag="accounts",
        description="Answers at once, whatever the account owns: from then on the account "
        "and its lists, faces, attributes, descriptors, samples and events are gone from every "
        "route, its sessions are ended and its login is free. The rows are deleted in the "
        "background by a GC task with the target `account` (listed in the tasks); the id is "
        "free once it ends. The last admin account cannot be removed.",
        replies=(no_content("removed"),),
        errors=("ACCOUNT_NOT_FOUND", "LAST_ADMIN"),
        redirect=True,
    ),
)
declare(
    AccountController.account_lists,
    Operation(
        summary="get the lists of an account",
        tag="accounts",
        query=paging(),
        replies=(ok("Lists"),),
        errors=("ACCOUNT_NOT_FOUND",),
        page=True,
    ),
)
declare(
    ListController.get_lists,
    Operation(
        summary="get lists with filters",
        tag="lists",
        query=(*paging(), Param("account_id", UUID_PARAM, "lists of this account")),
        replies=(ok("Lists"),),
        page=True,
    ),
)
declare(
    ListController.get_list,
    Operation(
        summary="get list info",
        tag="lists",
        replies=(ok("List"),),
        errors=("LIST_NOT_FOUND",),
        page=True,
    ),
)
declare(
    SearchController.search_element,
    Operation(
        summary="search element by id or email",
        tag="search",
        description="`q` is an account id, an account login, a list id or a task id. "
        "A browser is redirected (303) to the page of what was found.",
        query=(
            Param(
                "q",
                {"type": "string", "maxLength": 256},
                "account id or login, list id, task id",
                required=True,
            ),
        ),
        replies=(ok("SearchResult"),),
        errors=("NOTHING_FOUND",),
        page=True,
        redirect=True,
    ),
)
declare(
    LoginApiController.check_cookie,
    Operation(
        summary="check authorization cookie",
        tag="login",
        replies=(
            Reply(
                200, "the credentials are valid", {"type": "string", "const": "Ok"}, "text/plain"
            ),
        ),
    ),
)
declare(
    LoginApiController.set_cookie,
    Operation(
        summary="set authorization cookie",
        tag="login",
        description="Basic credentials of an admin account in, a new session cookie out "
        "(no body). A session the request already had is ended. The cookie alone then "
        "authenticates every route, changes included; a browser's request from another "
        "site is refused (403, 29200).",
        security=("basic",),
        replies=(Reply(201, "signed in", headers=SESSION_COOKIE),),
        errors=("NO_AUTH_HEADERS", "WRONG_CREDENTIALS", "NOT_ADMIN", "LOGIN_THROTTLED"),
    ),
)
declare(
    LoginApiController.change_password,
    Operation(
        summary="change authorization cookie",
        tag="login",
        description="Changes the signed-in account's password, ends every session of the "
        "account and issues a new cookie for this client.",
        body=accounts.PASSWORD_SCHEMA,
        body_name="NewPassword",
        replies=(Reply(204, "password changed", headers=SESSION_COOKIE),),
    ),
)
declare(
    LoginApiController.clear_cookie,
    Operation(
        summary="clear authorization cookie",
        tag="login",
        replies=(no_content("signed out, the cookie cleared"),),
    ),
)

# ------------------------------------------------------------------- tasks

declare(
    TaskController.get_tasks,
    Operation(
        summary="get tasks with filters",
        tag="tasks",
        description="Newest first.",
        query=(*paging(), *TASK_FILTERS),
        replies=(ok("Tasks"),),
        page=True,
    ),
)
declare(
    TaskController.get_task_count,
    Operation(
        summary="get task count",
        tag="tasks",
        query=TASK_FILTERS,
        replies=(ok("Count"),),
    ),
)
declare(
    TaskController.create_gc_task,
    Operation(
        summary="create gc task",
        tag="tasks",
        body=gc_schema,
        body_name="NewGcTask",
        replies=(created("TaskCreated", "task"),),
        creates="task_id",
        form=True,
    ),
)
declare(
    TaskController.create_additional_extract_task,
    Operation(
        summary="create additional extract task",
        tag="tasks",
        description="A target the configured extraction backend cannot produce is refused "
        "(400, 29103).",
        body=additional_extract_schema,
        body_name="NewAdditionalExtractTask",
        replies=(created("TaskCreated", "task"),),
        creates="task_id",
        errors=("TARGET_NOT_SUPPORTED",),
        form=True,
    ),
)
declare(
    TaskController.get_task,
    Operation(
        summary="get task",
        tag="tasks",
        replies=(ok("Task"),),
        errors=("TASK_NOT_FOUND",),
        page=True,
    ),
)
declare(
    TaskController.cancel_task,
    Operation(
        summary="cancel task",
        tag="tasks",
        replies=(no_content("cancelled"),),
        errors=("TASK_NOT_FOUND", "TASK_NOT_CANCELLABLE", "ACCOUNT_REMOVAL_NOT_CANCELLABLE"),
        redirect=True,
    ),
)
declare(
    TaskController.delete_task,
    Operation(
        summary="delete task",
        tag="tasks",
        description="A running task is cancelled first; its subtasks, errors and result go "
        "with it.",
        replies=(no_content("deleted"),),
        errors=("TASK_NOT_FOUND", "ACCOUNT_REMOVAL_NOT_CANCELLABLE"),
        redirect=True,
    ),
)
declare(
    TaskController.get_policy,
    Operation(
        summary="get task notification policy",
        tag="tasks",
        description="Stored passwords and tokens are masked (`********`).",
        replies=(ok("NotificationPolicy"),),
        errors=("TASK_NOT_FOUND",),
        page=True,
    ),
)
declare(
    TaskController.replace_policy,
    Operation(
        summary="replace task notification policy",
        tag="tasks",
        description="A masked secret sent back unchanged keeps the stored one.",
        body=NOTIFICATION_POLICY_SCHEMA,
        body_name="NotificationPolicy",
        replies=(no_content("replaced"),),
        errors=("TASK_NOT_FOUND",),
    ),
)
declare(
    TaskController.get_result,
    Operation(
        summary="get task result",
        tag="tasks",
        query=(
            Param(
                "download",
                {"type": "string"},
                "present (any value): answered as a file download (Content-Disposition)",
            ),
        ),
        replies=(ok("TaskResult"),),
        errors=("TASK_NOT_FOUND", "TASK_RESULT_NOT_READY", "TASK_RESULT_NOT_FOUND"),
    ),
)
declare(
    TaskController.get_task_errors,
    Operation(
        summary="get task errors",
        tag="tasks",
        query=(*paging(), *ERROR_TIME_FILTERS),
        replies=(ok("TaskErrors"),),
        errors=("TASK_NOT_FOUND",),
        page=True,
    ),
)
declare(
    TaskController.count_task_errors,
    Operation(
        summary="get task error count",
        tag="tasks",
        query=ERROR_TIME_FILTERS,
        replies=(ok("Count"),),
        errors=("TASK_NOT_FOUND",),
    ),
)
declare(
    TaskController.get_subtasks,
    Operation(
        summary="get subtasks",
        tag="tasks",
        replies=(ok("Subtasks"),),
        errors=("TASK_NOT_FOUND",),
    ),
)
declare(
    WorkerController.get_workers,
    Operation(
        summary="get workers and queue (extension)",
        tag="tasks",
        description="Every process running task workers (host, pid, start, last heartbeat, "
        "the subtasks it holds) and the queue: pending subtasks per task, in the order "
        "workers claim them, each with why it waits. The /workers page shows the same.",
        replies=(ok("Workers"),),
        page=True,
    ),
)
declare(
    ErrorController.get_errors,
    Operation(
        summary="get errors",
        tag="errors",
        query=(*paging(), *ERROR_FILTERS),
        replies=(ok("TaskErrors"),),
    ),
)
declare(
    ErrorController.get_error_count,
    Operation(
        summary="get error count",
        tag="errors",
        query=ERROR_FILTERS,
        replies=(ok("Count"),),
    ),
)
declare(
    ErrorController.get_error,
    Operation(
        summary="get error",
        tag="errors",
        replies=(ok("TaskError"),),
        errors=("TASK_ERROR_NOT_FOUND",),
    ),
)

# --------------------------------------------------------------- schedules

declare(
    ScheduleController.create_schedule,
    Operation(
        summary="create task schedule",
        tag="schedules",
        description="The cron expression and its zone are checked, and so is the task, as "
        "the task routes check theirs.",
        body=schedule_body,
        body_name="NewSchedule",
        replies=(created("ScheduleCreated", "schedule"),),
        creates="schedule_id",
        errors=("TARGET_NOT_SUPPORTED",),
        form=True,
    ),
)
declare(
    ScheduleController.get_schedules,
    Operation(
        summary="get task schedules",
        tag="schedules",
        description="A bare JSON array, newest first.",
        query=(
            *paging(),
            integer("task_type", "task type", enum=sorted(range(10))),
            *time_range("create_time"),
        ),
        replies=(ok("Schedules"),),
        page=True,
    ),
)
declare(
    ScheduleController.preview_trigger,
    Operation(
        summary="preview a trigger (extension)",
        tag="schedules",
        description="The cron expression in words and its first `count` fire times strictly "
        "after `start`, on the clock of its zone, read as crontab(5) reads them "
        "(docs/schedules.md): around a clock change, the preview shows what will fire. The "
        "trigger is checked as a schedule's is; a wrong `cron` or `cron_timezone` is 400 "
        "with error 29340 and the reason. The schedule form's names (`trigger.cron`, "
        "`trigger.cron_timezone`, `_preview_start`) are accepted too.",
        query=(
            Param(
                "cron",
                {"type": "string", "examples": ["5 4 * * *"]},
                "five-field cron expression, as crontab(5) reads it",
                required=True,
            ),
            Param(
                "cron_timezone",
                {"type": "string"},
                "utc (the default; any case), local or an IANA zone name; not empty",
                allow_empty=False,
            ),
            Param(
                "start",
                {"type": "string", "examples": ["2026-03-29T00:00:00+01:00", "2026-10-25T00:00"]},
                "ISO 8601 time after which fires are listed (default: now). Without an offset "
                "it is a time on the zone's clock (a date alone: its midnight). Years "
                f"{PREVIEW_YEARS[0]}-{PREVIEW_YEARS[1]}.",
            ),
            integer(
                "count",
                "how many fire times (fewer if the trigger fires fewer times in 400 years)",
                minimum=1,
                maximum=PREVIEW_MAX,
                default=PREVIEW_COUNT,
            ),
        ),
        replies=(ok("SchedulePreview"),),
        errors=("BAD_TRIGGER_QUERY",),
    ),
)
declare(
    ScheduleController.get_schedule,
    Operation(
        summary="get task schedule",
        tag="schedules",
        replies=(ok("Schedule"),),
        errors=("SCHEDULE_NOT_FOUND",),
        page=True,
    ),
)
declare(
    ScheduleController.replace_schedule,
    Operation(
        summary="replace task schedule",
        tag="schedules",
        description="Cancels a running task of the schedule, replaces it and continues on the "
        "new trigger.",
        body=schedule_body,
        body_name="NewSchedule",
        replies=(ok("ScheduleCreated", "replaced"),),
        errors=("SCHEDULE_NOT_FOUND", "TARGET_NOT_SUPPORTED"),
    ),
)
declare(
    ScheduleController.pause_or_start,
    Operation(
        summary="pause/start task schedule",
        tag="schedules",
        query=(Param("action", {"type": "string", "enum": sorted(ACTIONS)}, "", required=True),),
        replies=(no_content("done"),),
        errors=("SCHEDULE_NOT_FOUND",),
        redirect=True,
    ),
)
declare(
    ScheduleController.run_now,
    Operation(
        summary="run a schedule now (extension)",
        tag="schedules",
        description="One task at once, paused or not, under the overlap rule: while the "
        "schedule's previous task is unfinished nothing starts (409, recorded as a skip).",
        replies=(created("TaskCreated", "task"),),
        creates="task_id",
        errors=("SCHEDULE_NOT_FOUND", "SCHEDULE_TASK_UNFINISHED"),
        redirect=True,
    ),
)
declare(
    ScheduleController.get_fires,
    Operation(
        summary="get the fires of a schedule (extension)",
        tag="schedules",
        description="The history of a schedule, newest first: each fire's task, or why it "
        "was skipped.",
        query=paging(FIRES_SHOWN),
        replies=(ok("Fires"),),
        errors=("SCHEDULE_NOT_FOUND",),
    ),
)
declare(
    ScheduleController.delete_schedule,
    Operation(
        summary="delete task schedule",
        tag="schedules",
        description="Its tasks stay, their `schedule_id` kept.",
        replies=(no_content("deleted"),),
        errors=("SCHEDULE_NOT_FOUND",),
        redirect=True,
    ),
)

# ----------------------------------------------------------------- service

declare(
    # Built per app by webapp.app.version_handler, hence the name of the closure.
    "webapp.app.version_handler.<locals>.version",
    Operation(
        summary="get versions",
        tag="service",
        description="A browser (Accept: text/html) gets the version page (route 2).",
        replies=(ok("Version"),),
        page=True,
    ),
)

# ----------------------------------------------------------- system (issue 5)

declare(
    "webapp.system.controller.luna_sys_info",
    Operation(
        summary="get luna system info",
        tag="system",
        replies=(ok("SysInfo"),),
    ),
)
declare(
    "webapp.system.controller.system_page",
    Operation(
        summary="system page",
        tag="system",
        description="The luna_sys_info body; a browser gets the system page with charts of "
        "requests and errors per month and route.",
        query=(
            Param(
                "month",
                {"type": "string", "pattern": "^([0-9]{4}-(0[1-9]|1[0-2]))?$"},
                "the month whose routes the page charts (YYYY-MM; empty: the latest)",
            ),
        ),
        replies=(ok("SysInfo"),),
        page=True,
    ),
)
declare(
    "webapp.system.controller.SettingsController.list_settings",
    Operation(
        summary="get settings (extension)",
        tag="system",
        replies=(ok("Settings"),),
        page=True,
    ),
)
declare(
    "webapp.system.controller.SettingsController.patch_setting",
    Operation(
        summary="change a setting (extension)",
        tag="system",
        body=system_controller.VALUE_SCHEMA,
        body_name="SettingValue",
        replies=(ok("Setting"),),
        errors=("SETTING_NOT_FOUND",),
    ),
)
declare(
    "webapp.system.ops.service_config",
    Operation(
        summary="service configuration",
        tag="system",
        description="The effective settings, secrets masked: JSON (the default), text/plain "
        "`NAME = value` lines, or a page; any other Accept is refused (415).",
        replies=(
            Reply(
                200,
                "the settings by group",
                ref("Config"),
                also=(("text/plain", {"type": "string", "description": "NAME = value lines"}),),
            ),
        ),
        errors=("UNSUPPORTED_MEDIA_TYPE",),
        page=True,
    ),
)
declare(
    "webapp.system.ops.plugin_list",
    Operation(
        summary="plugins",
        tag="system",
        replies=(ok("Plugins"),),
        page=True,
    ),
)
declare(
    "webapp.system.ops.health_handler.<locals>.healthcheck",
    Operation(
        summary="health",
        tag="system",
        description="Checks the database, the scheduler leader and the workers; with "
        "include_luna_services=1 also the configured outside services. Unhealthy: 502 "
        "naming each failing component and its error.",
        query=(integer("include_luna_services", "also check outside services", enum=[0, 1]),),
        replies=(ok("Health"), Reply(502, "unhealthy", ref("Unhealthy"))),
    ),
)
declare(
    "webapp.system.ops.metrics_handler",
    Operation(
        summary="metrics",
        tag="system",
        description="Prometheus text exposition.",
        replies=(Reply(200, "the metrics", {"type": "string"}, "text/plain"),),
    ),
)
declare(
    "webapp.audit.controller.AuditController.get_events",
    Operation(
        summary="get the audit log (extension)",
        tag="audit",
        description="Newest first. `action` is an action (`task.create`) or a whole domain "
        "(`task`).",
        query=(
            *paging(25),
            Param("actor", {"type": "string", "maxLength": 256}, "login of who acted"),
            Param(
                "action",
                {"type": "string", "enum": sorted([*AUDIT_ACTIONS, *AUDIT_DOMAINS])},
                "an action or a domain",
            ),
            Param("target_type", {"type": "string", "enum": list(AUDIT_TARGETS)}, ""),
            Param("target_id", {"type": "string", "maxLength": 256}, "id of the object acted on"),
            *time_range("event_time"),
        ),
        replies=(ok("AuditEvents"),),
        page=True,
    ),
)
