"""The error catalogue: every error the service answers, in one table.

Where LUNA PLATFORM's published error catalogue
(docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-<n>) has a
code for a situation, that code is answered with its `desc` and `detail` (the
catalogue's "Error Message" is `desc. detail`; `source` names the part of LUNA
that publishes it). The 29xxx codes are this service's own, each for a situation
the catalogue does not name, and documented here. The catalogue is rendered at
/docs/errors, which every error body links to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LUNA_COMMON = "LUNA: REST API common errors"
LUNA_TASKS = "LUNA: Tasks service errors"
LUNA_ACCOUNTS = "LUNA: Accounts service errors"
OWN = ""
"""`source` of this service's own codes."""


@dataclass(frozen=True)
class ErrorKind:
    code: int
    name: str
    status: int
    desc: str
    detail: str
    """A str.format template filled from the arguments of LunaError."""
    explanation: str = ""
    source: str = OWN
    """Where LUNA publishes the code; empty for this service's own codes."""

    @property
    def origin(self) -> str:
        return self.source or "luna-admin (own code)"


_KINDS = [
    # ------------------------------------------------ codes of LUNA's catalogue
    ErrorKind(
        11009,
        "INTERNAL",
        500,
        "Internal server error",
        "Internal server error",
        "An unexpected failure. The log line with the same Luna-Request-Id tells more.",
        "LUNA: API service errors",
    ),
    ErrorKind(
        12002,
        "NO_JSON",
        400,
        "Bad/incomplete input data",
        "Request does not contain json",
        "The body is missing, is not JSON, or was sent with another Content-Type than "
        "application/json (a form is accepted where the pages post one).",
        LUNA_COMMON,
    ),
    ErrorKind(
        12005,
        "EMPTY_JSON",
        400,
        "Bad/incomplete input data",
        "Request contain empty json",
        "The body is an empty JSON object where fields are required.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12010,
        "NO_AUTH_HEADERS",
        401,
        "Bad/incomplete input data",
        "This resource needs 'Authorization' authorization headers",
        "Neither Basic credentials nor a session cookie were sent.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12012,
        "BAD_QUERY_PARAM",
        400,
        "Bad/incomplete input data",
        "Bad query parameters '{name}'",
        "A query or path parameter has a value of the wrong type or outside its range.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12013,
        "ROUTE_NOT_FOUND",
        404,
        "Resource not found",
        "Page not found",
        "No route has this path.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12014,
        "MISSING_QUERY_PARAM",
        400,
        "Bad/incomplete input data",
        "Required parameters {name} not found",
        "A required query parameter is missing.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12021,
        "METHOD_NOT_ALLOWED",
        405,
        "Method not allowed",
        "Method not allowed",
        "The route exists but not with this method.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12022,
        "JSON_VALIDATION",
        400,
        "Bad/incomplete input data",
        "Failed to validate input json. Path: '{path}' message: '{message}'",
        "The body does not match the schema of the route.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12024,
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        "Bad/incomplete input data",
        "Unsupported media type",
        "The Accept header names no type the route answers (GET /docs/spec, GET /config). "
        "A request body of another type than JSON is 12002, not this.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12033,
        "NOT_ADMIN",
        403,
        "Forbidden",
        "Access to this resource on the server is denied",
        "The credentials are right but only admin accounts may use the Admin.",
        LUNA_COMMON,
    ),
    ErrorKind(
        12046,
        "BAD_HTTP_REQUEST",
        400,
        "Bad/incomplete input data",
        "Invalid http request: {reason}",
        "The request line or the headers are malformed or too large (about 64 KB at most); "
        "the HTTP server refused the request before any route saw it.",
        LUNA_COMMON,
    ),
    ErrorKind(
        15012,
        "ACCOUNT_NOT_FOUND",
        404,
        "Object not found",
        "Account with id '{account_id}' not found",
        "No account has this id.",
        "LUNA: Admin service errors",
    ),
    ErrorKind(
        22003,
        "LIST_NOT_FOUND",
        404,
        "Object not found",
        "List with id '{list_id}' not found",
        "No list has this id.",
        "LUNA: Faces service errors",
    ),
    ErrorKind(
        27001,
        "SETTING_NOT_FOUND",
        404,
        "Object not found",
        "Setting with id '{name}' not found",
        "No setting has this name; GET /{api}/settings lists them (see docs/system.md).",
        "LUNA: Configurator service errors",
    ),
    ErrorKind(
        28001,
        "TASK_NOT_FOUND",
        404,
        "Object not found",
        "Task with id '{task_id}' not found",
        "No task has this id.",
        LUNA_TASKS,
    ),
    ErrorKind(
        28003,
        "TASK_ERROR_NOT_FOUND",
        404,
        "Object not found",
        "Task error with id '{error_id}' not found",
        "No task error has this id.",
        LUNA_TASKS,
    ),
    ErrorKind(
        28017,
        "TASK_RESULT_NOT_FOUND",
        404,
        "Object not found",
        "Result of the task '{task_id}' not found",
        "The task finished but its result was not stored (store_results false) or has "
        "expired (result_storage_policy.ttl).",
        LUNA_TASKS,
    ),
    ErrorKind(
        28019,
        "TASK_NOT_CANCELLABLE",
        400,
        "Bad/incomplete input data",
        "Task '{task_id}' with status {status} cannot be canceled",
        "Only pending, running and collecting tasks can be cancelled.",
        LUNA_TASKS,
    ),
    ErrorKind(
        28020,
        "TASK_RESULT_NOT_READY",
        404,
        "Object not found",
        "Impossible get a result of task {task_id} with status {status}",
        "Only a task that is done (status 5) has a result.",
        LUNA_TASKS,
    ),
    ErrorKind(
        28040,
        "SCHEDULE_NOT_FOUND",
        404,
        "Object not found",
        "Schedule with id {schedule_id} not found",
        "No task schedule has this id.",
        LUNA_TASKS,
    ),
    ErrorKind(
        37003,
        "BODY_TOO_LARGE",
        413,
        "Request payload is too large",
        "Request payload is too large",
        "The body is larger than the service accepts: 1 MiB of JSON, 256 KiB of form "
        "(docs/security.md, Limits on requests).",
        "LUNA: Application server errors",
    ),
    ErrorKind(
        38001,
        "COMPONENT_UNHEALTHY",
        502,
        "Health check error",
        "{component}: {reason}",
        "One failing component in the `errors` of a 502 from GET /healthcheck: database, "
        "scheduler, workers or an outside service such as telegram_api.",
        "LUNA: Healthcheck errors",
    ),
    ErrorKind(
        41001,
        "LOGIN_TAKEN",
        409,
        "Unique constraint error",
        "Account with login '{login}' already exists",
        "Logins are unique.",
        LUNA_ACCOUNTS,
    ),
    ErrorKind(
        41002,
        "ACCOUNT_ID_TAKEN",
        409,
        "Unique constraint error",
        "Account with account_id '{account_id}' already exists",
        "Account ids are unique.",
        LUNA_ACCOUNTS,
    ),
    ErrorKind(
        41006,
        "WRONG_CREDENTIALS",
        401,
        "Account credentials wrong",
        "Account login or password are incorrect",
        "The same answer for an unknown login and a wrong password.",
        LUNA_ACCOUNTS,
    ),
    # -------------------------------------------------- this service's own codes
    ErrorKind(
        29003,
        "LOGIN_THROTTLED",
        429,
        "Too many requests",
        "Too many failed sign-in attempts, try again in {retry_after} s",
        "Too many failed sign-ins for this login from this address, or from this address "
        "for any login, or guesses at this login from addresses that already failed come "
        "faster than its growing delay allows (docs/security.md, Sign-in throttling). "
        "Retry-After says when to try again; the answer is the same whether the login "
        "exists, and a throttled attempt checks no password.",
    ),
    ErrorKind(
        29005,
        "BAD_REQUEST_ID",
        400,
        "Bad/incomplete input data",
        "Bad Luna-Request-Id header '{value}'",
        "Luna-Request-Id must look like 1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a.",
    ),
    ErrorKind(
        29006,
        "LAST_ADMIN",
        409,
        "Conflict",
        "Account '{account_id}' is the last admin account and cannot be removed",
        "At least one admin account must remain, or nobody could sign in.",
    ),
    ErrorKind(
        29012,
        "NOTHING_FOUND",
        404,
        "Object not found",
        "Nothing found for '{q}'",
        "Search found no account, list or task for the query.",
    ),
    ErrorKind(
        29013,
        "SESSION_INVALID",
        401,
        "Unauthorized",
        "The session has expired or was ended, sign in again",
        "The session cookie names no live session.",
    ),
    ErrorKind(
        29015,
        "CONFIRMATION_MISMATCH",
        400,
        "Bad/incomplete input data",
        "Type '{expected}' to confirm",
        "Destructive page actions ask for the name to be typed.",
    ),
    ErrorKind(
        29016,
        "BAD_FORM",
        400,
        "Bad/incomplete input data",
        "Request does not contain a valid form",
        "A form body could not be decoded.",
    ),
    ErrorKind(
        29220,
        "FORM_TOO_MANY_FIELDS",
        413,
        "Request entity too large",
        "The form has more than {limit} fields",
        "Forms are counted while they are read and refused at the first field past the "
        "limit (docs/security.md, Limits on requests).",
    ),
    ErrorKind(
        29221,
        "FORM_FIELD_TOO_LARGE",
        413,
        "Request entity too large",
        "A form field is larger than {limit} bytes",
        "One field of a form (its raw, encoded bytes; in a multipart form the whole part) "
        "is past the limit (docs/security.md, Limits on requests).",
    ),
    ErrorKind(
        29222,
        "FORM_TOO_DEEP",
        400,
        "Bad/incomplete input data",
        "Form field '{name}' nests deeper than {limit} levels",
        "Dotted form field names build nested objects; their depth is limited "
        "(docs/security.md, Limits on requests).",
    ),
    ErrorKind(
        29223,
        "JSON_TOO_MANY_ITEMS",
        413,
        "Request entity too large",
        "The JSON body has more than {limit} items",
        "Commas and opening brackets are counted before the JSON is parsed, wherever they "
        "are (docs/security.md, Limits on requests).",
    ),
    ErrorKind(
        29224,
        "JSON_TOO_DEEP",
        400,
        "Bad/incomplete input data",
        "The JSON body nests deeper than {limit} levels",
        "Arrays and objects inside each other are limited in depth "
        "(docs/security.md, Limits on requests).",
    ),
    ErrorKind(
        29225,
        "REQUEST_TIMEOUT",
        408,
        "Request timeout",
        "The request was not received within {seconds} s",
        "The head, or the body, of a request took longer than REQUEST_READ_TIMEOUT to "
        "arrive; the connection is closed (docs/security.md, Limits on requests).",
    ),
    ErrorKind(
        29226,
        "BODY_INCOMPLETE",
        400,
        "Bad/incomplete input data",
        "The connection closed before the body was complete",
        "The client went away in the middle of its body; nothing was changed.",
    ),
    ErrorKind(
        29227,
        "BAD_PATH",
        400,
        "Bad/incomplete input data",
        "The path is not valid: {reason}",
        "A path with a NUL character, a '%' not followed by two hexadecimal digits, or "
        "percent-encoded bytes that are not UTF-8 is refused for every route.",
    ),
    ErrorKind(
        29101,
        "SAMPLE_NOT_FOUND",
        404,
        "Sample not found",
        "Face '{face_id}' has no sample to extract from",
        "A task error: additional extraction needs a stored sample of the face.",
    ),
    ErrorKind(
        29102,
        "EXTRACTION_FAILED",
        422,
        "Extraction failed",
        "Face '{face_id}': {reason}",
        "A task error: the backend could not extract from the face's sample.",
    ),
    ErrorKind(
        29103,
        "TARGET_NOT_SUPPORTED",
        400,
        "Bad/incomplete input data",
        "{reason}",
        "The extraction backend cannot produce this target or descriptor version.",
    ),
    ErrorKind(
        29104,
        "SUBTASK_FAILED",
        500,
        "Subtask failed",
        "{reason}",
        "A task error: a subtask failed unexpectedly; the log has the details.",
    ),
    ErrorKind(
        29105,
        "SCHEDULE_TASK_UNFINISHED",
        409,
        "Schedule busy",
        "Schedule {schedule_id} did not start a task: {reason}",
        "Run now (an extension) follows the overlap rule of every fire: no new task while "
        "the schedule's previous task is unfinished. The skip is recorded in its history.",
    ),
    ErrorKind(
        29320,
        "TASK_FAILURE_LIMIT",
        500,
        "Task stopped at its failure limit",
        "The task stopped after {failed} failures (max_failures {limit})",
        "A task error: the task's failures reached `options.max_failures` (an extension); "
        "it ended failed and its unfinished subtasks were cancelled.",
    ),
    ErrorKind(
        29150,
        "SERVICE_UNHEALTHY",
        502,
        "Service is unhealthy",
        "Unhealthy components: {components}",
        "GET /healthcheck found components failing; `errors` lists each with its own error "
        "(38001, see docs/monitoring.md).",
    ),
    ErrorKind(
        29200,
        "CROSS_SITE_REFUSED",
        403,
        "Forbidden",
        "Cross-site request refused: {reason}",
        "A browser sent a request that changes something (or the sign-in form) from a page "
        "of another site or port (Sec-Fetch-Site, Origin). Clients that send neither header "
        "are not concerned (docs/security.md).",
    ),
    ErrorKind(
        29201,
        "DATABASE_UNAVAILABLE",
        503,
        "Service unavailable",
        "The database cannot be reached, try again later",
        "PostgreSQL refused or dropped the connection (down, restarting, out of "
        "connections). Nothing was changed; the request can be repeated.",
    ),
    ErrorKind(
        29340,
        "BAD_TRIGGER_QUERY",
        400,
        "Bad/incomplete input data",
        "Bad query parameters '{name}': {message}",
        "The schedule preview (GET /{api}/tasks/schedules/preview) was given a `cron` or a "
        "`cron_timezone` that a schedule could not be stored with; the detail says why, "
        "as 12022 does for the same trigger in a schedule's body (docs/schedules.md).",
    ),
    ErrorKind(
        29300,
        "ACCOUNT_BEING_REMOVED",
        409,
        "Conflict",
        "Account with id '{account_id}' is being removed; its id is free once the removal ends",
        "PUT with the id of an account whose rows the workers are still removing; the removal "
        "task (a GC task with target account) shows how far it is. Its login is free at once.",
    ),
    ErrorKind(
        29301,
        "ACCOUNT_REMOVAL_NOT_CANCELLABLE",
        400,
        "Bad/incomplete input data",
        "Task '{task_id}' removes account '{account_id}' and cannot be canceled or deleted "
        "before it ends",
        "The account is already gone from every route; stopping its removal would only leave "
        "its rows behind.",
    ),
]

CATALOGUE: dict[int, ErrorKind] = {kind.code: kind for kind in _KINDS}
BY_NAME: dict[str, ErrorKind] = {kind.name: kind for kind in _KINDS}


class LunaError(Exception):
    """An error answered with its catalogue entry; `args` fill the detail template."""

    def __init__(
        self, kind_name: str, /, headers: dict[str, str] | None = None, **params: Any
    ) -> None:
        self.kind = BY_NAME[kind_name]
        self.params = params
        self.headers = headers or {}
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        return self.kind.detail.format(**self.params)

    @property
    def status(self) -> int:
        return self.kind.status

    def body(self) -> dict[str, Any]:
        return error_body(self.kind, self.detail)


def error_body(kind: ErrorKind, detail: str) -> dict[str, Any]:
    return {
        "error_code": kind.code,
        "desc": kind.desc,
        "detail": detail,
        "link": f"/docs/errors#error-{kind.code}",
    }
