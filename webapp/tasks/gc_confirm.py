"""A GC that removes in every account, stated plainly before it runs.

The pages (not the API, which follows the reference) ask for confirmation of a
GC without an account filter, `face_descriptors` always among them: a count of
what would go now (the dry run's answer, counted by one query) and what it is,
in words. The same statement, with "Run this", ends the page of a preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webapp import db
from webapp.tasks.gc import GcWork

CONFIRM_FIELD = "_confirm_across_accounts"
"""The form field that says the operator saw the statement and confirmed it."""


def what(content: dict[str, Any]) -> str:
    """The rows a GC removes, in words: 'descriptors of version 56', 'faces created
    before 2026-01-01T00:00:00Z in list …'."""
    filters = dict(content.get("filters") or {})
    target = content["target"]
    if target == "face_descriptors":
        return f"descriptors of version {filters['descriptor_version']}"
    if target == "face_attributes":
        return "face attributes whose TTL has passed or that no face links"
    words = [target]
    if filters.get("create_time__gte"):
        words.append(f"created from {filters['create_time__gte']}")
    if filters.get("create_time__lt"):
        words.append(f"created before {filters['create_time__lt']}")
    if filters.get("list_id"):
        words.append(f"in list {filters['list_id']}")
    if filters.get("handler_id"):
        words.append(f"of handler {filters['handler_id']}")
    if target == "events" and content.get("remove_samples"):
        words.append("with their samples")
    return " ".join(words)


@dataclass(frozen=True)
class Statement:
    """What a GC across every account would remove, for the confirmation."""

    what: str
    count: int
    content: dict[str, Any]


def needs_confirmation(work: GcWork) -> bool:
    return work.across_accounts and not work.dry_run


async def statement(work: GcWork) -> Statement:
    async with db.connection() as conn:
        count = await work.count(conn)
    return Statement(what(work.content), count, work.content)


def form_fields(body: dict[str, Any]) -> list[tuple[str, str]]:
    """A GC body as the launch form's dotted fields (to post it again), dry run off."""
    content = {**body["content"], "dry_run": False}
    fields = [("content.target", str(content["target"]))]
    for name, value in (content.get("filters") or {}).items():
        fields.append((f"content.filters.{name}", str(value)))
    for flag in ("store_results", "remove_samples", "dry_run"):
        if flag in content:
            fields.append((f"content.{flag}", "true" if content[flag] else "false"))
    if body.get("description"):
        fields.append(("description", str(body["description"])))
    ttl = (body.get("result_storage_policy") or {}).get("ttl")
    if ttl is not None:
        fields.append(("result_storage_policy.ttl", str(ttl)))
    return fields
