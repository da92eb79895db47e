"""The error catalogue: every error the service answers, in one table.

Codes below 29000 are the LUNA PLATFORM's own and keep their meaning; 29xxx
codes are this service's, for cases the reference does not name. The catalogue
is rendered at /docs/errors, which every error body links to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorKind:
    code: int
    name: str
    status: int
    desc: str
    detail: str
    """A str.format template filled from the arguments of LunaError."""
    explanation: str = ""


_KINDS = [
    ErrorKind(
        11009,
        "INTERNAL",
        500,
        "Internal server error",
        "Internal server error",
        "An unexpected failure. The log line with the same Luna-Request-Id tells more.",
    ),
    ErrorKind(
        12002,
        "NO_JSON",
        400,
        "Bad/incomplete input data",
        "Request does not contain json",
        "The body is missing or is not valid JSON.",
    ),
    ErrorKind(
        12005,
        "EMPTY_JSON",
        400,
        "Bad/incomplete input data",
        "Request contain empty json",
        "The body is an empty JSON object where fields are required.",
    ),
    ErrorKind(
        12010,
        "NO_AUTH_HEADERS",
        401,
        "Bad/incomplete input data",
        "This resource needs 'Authorization' authorization headers",
        "Neither Basic credentials nor a session cookie were sent.",
    ),
    ErrorKind(
        12012,
        "BAD_QUERY_PARAM",
        400,
        "Bad/incomplete input data",
        "Bad query parameters '{name}'",
        "A query or path parameter has a value of the wrong type or outside its range.",
    ),
    ErrorKind(
        12014,
        "MISSING_QUERY_PARAM",
        400,
        "Bad/incomplete input data",
        "Required parameters '{name}' not found",
        "A required query parameter is missing.",
    ),
    ErrorKind(
        12022,
        "JSON_VALIDATION",
        400,
        "Bad/incomplete input data",
        "Failed to validate input json. Path: '{path}', message: '{message}'",
        "The body does not match the schema of the route.",
    ),
    ErrorKind(
        12024,
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        "Unsupported media type",
        "Bad/incomplete input data",
        "The Content-Type (or Accept) of the request is not one the route handles.",
    ),
    ErrorKind(
        15012,
        "ACCOUNT_NOT_FOUND",
        404,
        "Object not found",
        "Account with id '{account_id}' not found",
        "No account has this id.",
    ),
    ErrorKind(
        29001,
        "WRONG_CREDENTIALS",
        401,
        "Unauthorized",
        "Login or password is incorrect",
        "The same answer for an unknown login and a wrong password.",
    ),
    ErrorKind(
        29002,
        "NOT_ADMIN",
        403,
        "Forbidden",
        "Account '{login}' is not an admin account",
        "The credentials are right but only admin accounts may use the Admin.",
    ),
    ErrorKind(
        29003,
        "LOGIN_THROTTLED",
        429,
        "Too many requests",
        "Too many failed sign-in attempts, try again in {retry_after} s",
        "Failed sign-ins for this login or address passed LOGIN_MAX_FAILURES within "
        "LOGIN_FAILURE_WINDOW seconds; the answer is the same whether the login exists.",
    ),
    ErrorKind(
        29004,
        "CSRF_FAILED",
        403,
        "Forbidden",
        "CSRF token missing or incorrect",
        "A request authenticated by the session cookie that changes something must carry "
        "the X-CSRF-Token header or the _csrf_token form field. Basic-authenticated "
        "requests need none.",
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
        29007,
        "LOGIN_TAKEN",
        409,
        "Conflict",
        "Account with login '{login}' already exists",
        "Logins are unique.",
    ),
    ErrorKind(
        29008,
        "ACCOUNT_ID_TAKEN",
        409,
        "Conflict",
        "Account with id '{account_id}' already exists",
        "Account ids are unique.",
    ),
    ErrorKind(
        29009,
        "LIST_NOT_FOUND",
        404,
        "Object not found",
        "List with id '{list_id}' not found",
        "No list has this id.",
    ),
    ErrorKind(
        29010,
        "ROUTE_NOT_FOUND",
        404,
        "Resource not found",
        "Page '{path}' not found",
        "No route has this path.",
    ),
    ErrorKind(
        29011,
        "METHOD_NOT_ALLOWED",
        405,
        "Method not allowed",
        "Method '{method}' is not allowed for '{path}'",
        "The route exists but not with this method.",
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
        29014,
        "BODY_TOO_LARGE",
        413,
        "Request entity too large",
        "The body is larger than {limit} bytes",
        "Bodies are limited in size.",
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
        28001,
        "TASK_NOT_FOUND",
        404,
        "Object not found",
        "Task with id '{task_id}' not found",
        "No task has this id.",
    ),
    ErrorKind(
        28003,
        "TASK_ERROR_NOT_FOUND",
        404,
        "Object not found",
        "Task error with id '{error_id}' not found",
        "No task error has this id.",
    ),
    ErrorKind(
        28017,
        "TASK_RESULT_NOT_FOUND",
        404,
        "Object not found",
        "Result of task '{task_id}' not found",
        "The task finished but its result was not stored (store_results false) or has "
        "expired (result_storage_policy.ttl).",
    ),
    ErrorKind(
        28019,
        "TASK_NOT_CANCELLABLE",
        400,
        "Bad/incomplete input data",
        "Task '{task_id}' with status {status} cannot be canceled",
        "Only pending, running and collecting tasks can be cancelled.",
    ),
    ErrorKind(
        28020,
        "TASK_RESULT_NOT_READY",
        404,
        "Object not found",
        "Task '{task_id}' with status {status} has no result",
        "Only a task that is done (status 5) has a result.",
    ),
    ErrorKind(
        28040,
        "SCHEDULE_NOT_FOUND",
        404,
        "Object not found",
        "Task schedule with id '{schedule_id}' not found",
        "No task schedule has this id.",
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
        29120,
        "SETTING_NOT_FOUND",
        404,
        "Object not found",
        "Setting '{name}' not found",
        "No setting has this name; GET /{api}/settings lists them (see docs/system.md).",
    ),
    ErrorKind(
        29150,
        "SERVICE_UNHEALTHY",
        502,
        "Service is unhealthy",
        "Unhealthy components: {components}",
        "GET /healthcheck found components failing; `errors` lists each with its own error "
        "(see docs/monitoring.md).",
    ),
    ErrorKind(
        29151,
        "COMPONENT_UNHEALTHY",
        502,
        "Component is unhealthy",
        "{component}: {reason}",
        "One failing component in the `errors` of a 502 from GET /healthcheck: database, "
        "scheduler, workers or an outside service such as telegram_api.",
    ),
    ErrorKind(
        29160,
        "BAD_HTTP_REQUEST",
        400,
        "Bad/incomplete input data",
        "The HTTP request could not be read: {reason}",
        "The request line or the headers are malformed or too large (about 64 KB at most); "
        "the HTTP server refused the request before any route saw it.",
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
