"""The task forms of the pages: their fields, what to say about a refused field,
and the values typed, to fill a form in error again.

The launch forms post `content.target`, `description`, ...; the schedule form
posts the same fields under `task.` (its body nests the task), so everything
here takes the prefix of the form's names.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request

from webapp.tasks.schemas import EXTRACTION_TARGETS, GC_TARGETS
from webapp.tasks.states import RESULT_TTL_DAYS, TaskType
from webapp.web.body import form_pairs
from webapp.web.errors import LunaError

GC_FIELDS = (
    "content.target",
    "content.filters.descriptor_version",
    "content.filters.account_id",
    "content.filters.create_time__gte",
    "content.filters.create_time__lt",
    "content.filters.list_id",
    "content.filters.handler_id",
    "content.remove_samples",
    "content.store_results",
    "description",
    "result_storage_policy.ttl",
)
EXTRACT_FIELDS = (
    "content.extraction_target",
    "content.filters.account_id",
    "content.filters.face_id__gte",
    "content.filters.face_id__lt",
    "content.options.missing",
    "content.filters.has_sample",
    "content.options.max_failures",
    "description",
    "result_storage_policy.ttl",
)
TASK_FIELDS = {TaskType.GC: GC_FIELDS, TaskType.ADDITIONAL_EXTRACT: EXTRACT_FIELDS}

_TIME_HINT = "Enter a time with its zone, such as 2026-01-01T00:00:00Z"
_UUID_HINT = "Enter a whole {} id (a lower-case UUID)"
FIELD_HINTS = {
    "content.filters.descriptor_version": "Enter the descriptor version to remove "
    "(a whole number from 1 to 1000)",
    "content.filters.account_id": _UUID_HINT.format("account"),
    "content.filters.list_id": _UUID_HINT.format("list"),
    "content.filters.handler_id": _UUID_HINT.format("handler"),
    "content.filters.face_id__gte": _UUID_HINT.format("face"),
    "content.filters.face_id__lt": _UUID_HINT.format("face"),
    "content.filters.create_time__gte": _TIME_HINT,
    "content.filters.create_time__lt": _TIME_HINT,
    "description": "At most 128 characters",
    "content.options.max_failures": "Enter a whole number of failures, at least 1 "
    "(or leave it empty: never stop)",
}
"""What to tell the operator about a field the server refused (the API's own
message names JSON paths and schema keywords)."""

_UNEXPECTED = re.compile(r"\((.*) (?:was|were) unexpected\)")


def form_errors(
    error: LunaError, fields: tuple[str, ...], prefix: str = "", hints: dict[str, str] | None = None
) -> dict[str, str]:
    """The error as {form field: message}; "_" holds what belongs to no one field.

    `fields` are the form's names; `prefix` is what its task fields' names start with
    (FIELD_HINTS knows them without it); `hints` add to FIELD_HINTS."""
    if error.kind.name == "TARGET_NOT_SUPPORTED":
        return {f"{prefix}content.extraction_target": error.detail}
    if error.kind.name != "JSON_VALIDATION":
        return {"_": error.detail}
    path = str(error.params.get("path") or "")
    message = str(error.params.get("message") or error.detail)
    unexpected = _UNEXPECTED.search(message)
    known = set(fields)
    if unexpected:
        # A filter that the chosen target does not take (filled in with JavaScript
        # off, when every target's fields show): mark each such field.
        names = [f"{path}.{name}" for name in re.findall(r"'([^']+)'", unexpected.group(1))]
        marked = {name: "Not used by the chosen target: leave it empty" for name in names}
        if marked and all(name in known for name in marked):
            return marked
    if path in known:
        all_hints = {**FIELD_HINTS, **(hints or {})}
        return {path: all_hints.get(path.removeprefix(prefix), all_hints.get(path, message))}
    return {"_": error.detail}


async def typed_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted fields as typed, by their dotted names (the last of a name wins,
    as in webapp.web.body), to fill a form in error again."""
    try:
        pairs = await form_pairs(request)
    except LunaError:
        return {}
    return {key: value for key, value in pairs if not key.startswith("_")}


def form_choices() -> dict[str, Any]:
    """What the task fields offer (targets, result TTLs)."""
    return {
        "gc_targets": list(GC_TARGETS),
        "extraction_targets": EXTRACTION_TARGETS,
        "ttl_days": RESULT_TTL_DAYS,
    }


def launch_context() -> dict[str, Any]:
    """The launch forms, empty (each page render may replace one with a form in error)."""
    return {
        **form_choices(),
        "gc_form": {},
        "gc_errors": {},
        "extract_form": {},
        "extract_errors": {},
    }
