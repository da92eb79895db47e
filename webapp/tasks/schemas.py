"""The bodies of the task routes, as JSON schemas (validated by webapp.web.body)."""

from __future__ import annotations

from functools import cache
from typing import Any

from webapp.tasks.states import RESULT_TTL_DAYS

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}

ID_TEXT = {"type": "string", "minLength": 1, "maxLength": 128}
"""An id filter of additional extraction. The reference's own example sends
"string" there, so any text is accepted; one that is not an id matches nothing."""

GC_TARGETS: dict[str, dict[str, Any]] = {
    "face_descriptors": {
        # 0, as in the reference's examples, names no neural network (LUNA's versions
        # start at 54): the task removes nothing. Never "the current version".
        "properties": {"descriptor_version": {"type": "integer", "minimum": 0, "maximum": 1000}},
        "required": ["descriptor_version"],
    },
    "faces": {
        "properties": {
            "account_id": UUID,
            "create_time__lt": TIME,
            "create_time__gte": TIME,
            "list_id": UUID,
        },
    },
    "events": {
        "properties": {
            "account_id": UUID,
            "create_time__lt": TIME,
            "create_time__gte": TIME,
            "handler_id": UUID,
        },
    },
    "face_attributes": {"properties": {"account_id": UUID}},
}
"""Each GC target and the filters it takes (only these)."""

EXTRACTION_TARGETS = ("face_descriptor", "basic_attributes")
MAX_FAILURES = 2**31 - 1


def _filters(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": spec["properties"],
        "required": spec.get("required", []),
        "additionalProperties": False,
    }


def _common(content: dict[str, Any]) -> dict[str, Any]:
    from webapp.notify.policy import NOTIFICATION_POLICY_SCHEMA

    return {
        "type": "object",
        "properties": {
            "content": content,
            "description": {"type": "string", "maxLength": 128},
            "notification_policy": NOTIFICATION_POLICY_SCHEMA,
            "result_storage_policy": {
                "type": "object",
                "properties": {"ttl": {"enum": [*RESULT_TTL_DAYS, None]}},
                "additionalProperties": False,
            },
        },
        "required": ["content"],
        "additionalProperties": False,
    }


@cache
def gc_schema() -> dict[str, Any]:
    per_target = [
        {
            "if": {"properties": {"target": {"const": target}}, "required": ["target"]},
            "then": {
                "properties": {"filters": _filters(spec)},
                **({"required": ["filters"]} if spec.get("required") else {}),
            },
        }
        for target, spec in GC_TARGETS.items()
    ]
    content = {
        "type": "object",
        "properties": {
            "target": {"enum": list(GC_TARGETS)},
            "filters": {"type": "object"},
            "store_results": {"type": "boolean"},
            "dry_run": {"type": "boolean"},
            "remove_samples": {"type": "boolean"},
        },
        "required": ["target"],
        "additionalProperties": False,
        "allOf": per_target,
    }
    return _common(content)


@cache
def additional_extract_schema() -> dict[str, Any]:
    content = {
        "type": "object",
        "properties": {
            "filters": {
                "type": "object",
                "properties": {
                    "objects_type": {"enum": ["faces"]},
                    "account_id": ID_TEXT,
                    "face_id__lt": ID_TEXT,
                    "face_id__gte": ID_TEXT,
                    "has_sample": {
                        "type": "boolean",
                        "description": "Extension: true leaves out the faces that have no "
                        "sample (by default they are counted as skipped).",
                    },
                },
                "required": ["objects_type"],
                "additionalProperties": False,
            },
            "extraction_target": {"enum": list(EXTRACTION_TARGETS)},
            "options": {
                "type": "object",
                "properties": {
                    "missing": {"type": "boolean"},
                    # 0 (or none): the version the extraction backend writes.
                    "descriptor_version": {"type": "integer", "minimum": 0, "maximum": 1000},
                    "max_failures": {
                        "type": ["integer", "null"],
                        "minimum": 1,
                        "maximum": MAX_FAILURES,
                        "description": "Extension: stop the task, failed, once this many "
                        "faces failed to extract (default null: never stop).",
                    },
                },
                "additionalProperties": False,
            },
        },
        "required": ["filters", "extraction_target"],
        "additionalProperties": False,
    }
    return _common(content)
