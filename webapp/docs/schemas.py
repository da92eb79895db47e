"""JSON schemas of what the routes answer, published under components/schemas.

Request bodies are not here: the document shows the schemas the handlers
validate with (webapp/docs/operations.py points at them). These describe the
answers, as the services build them (account_json, task_json, schedule_json,
...); schemathesis checks every answer of a real server against them.
"""

from __future__ import annotations

from typing import Any

from webapp.notify.policy import NOTIFICATION_POLICY_SCHEMA
from webapp.tasks.states import STATUS_NAMES, TYPE_NAMES

JsonSchema = dict[str, Any]


def ref(name: str) -> JsonSchema:
    """A reference to COMPONENTS[name] (the validator of the document resolves each)."""
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, JsonSchema], *, optional: tuple[str, ...] = ()) -> JsonSchema:
    """An object with exactly these properties, all present unless `optional`."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def _nullable(schema: JsonSchema) -> JsonSchema:
    return {**schema, "type": [schema["type"], "null"]}


TIME: JsonSchema = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$",
    "description": "UTC with milliseconds, e.g. 2026-11-28T05:08:36.123Z",
}
UUID: JsonSchema = {"type": "string", "format": "uuid"}
ID: JsonSchema = {"type": "integer", "minimum": 1}
COUNT: JsonSchema = {"type": "integer", "minimum": 0}
TASK_TYPE: JsonSchema = {
    "type": "integer",
    "enum": sorted(TYPE_NAMES),
    "description": ", ".join(f"{k} {v}" for k, v in sorted(TYPE_NAMES.items())),
}
STATUS: JsonSchema = {
    "type": "integer",
    "enum": sorted(STATUS_NAMES),
    "description": ", ".join(f"{k} {v}" for k, v in sorted(STATUS_NAMES.items())),
}

ACCOUNT = _object(
    {
        "account_id": UUID,
        "account_type": {"type": "string", "enum": ["admin", "advanced_user", "user"]},
        "description": {"type": "string", "maxLength": 128},
        "login": {"type": "string", "maxLength": 128},
        "create_time": TIME,
        "last_update_time": TIME,
        "email": {"type": "string", "description": "legacy name of login"},
        "organization_name": {"type": "string", "description": "legacy name of description"},
    }
)

ACCOUNT_WITH_STATS = _object(
    {
        "info": ref("Account"),
        "stats": _object({"list_count": COUNT, "face_count": COUNT, "face_attribute_count": COUNT}),
    }
)

LIST = _object(
    {
        "list_id": UUID,
        "account_id": UUID,
        "user_data": {"type": "string", "maxLength": 128},
        "create_time": TIME,
        "last_update_time": TIME,
        "face_count": COUNT,
    }
)

TASK = _object(
    {
        "task_id": ID,
        "task_type": TASK_TYPE,
        "task_status": STATUS,
        "content": {"type": "object", "description": "the task's content as created"},
        "description": {"type": "string", "maxLength": 128},
        "account_id": _nullable(UUID),
        "create_time": TIME,
        "end_time": _nullable(TIME),
        "last_update_time": TIME,
        "result_id": _nullable(UUID),
        "count_task_parts_done": COUNT,
        "count_task_parts_all": COUNT,
        "notification_policy": NOTIFICATION_POLICY_SCHEMA,
        "result_storage_policy": {
            "type": "object",
            "properties": {"ttl": {"type": ["integer", "null"]}},
        },
        "schedule_id": _nullable(ID),
    }
)

SUBTASK = _object(
    {
        "subtask_id": ID,
        "task_id": ID,
        "result_id": _nullable(UUID),
        "create_time": TIME,
        "end_time": _nullable(TIME),
        "subtask_status": STATUS,
        "content": {
            "type": "object",
            "properties": {"progress": {"type": "object"}},
            "required": ["progress"],
            "description": "the subtask's id range and its progress",
        },
    }
)

TASK_ERROR = _object(
    {
        "error_id": ID,
        "task_id": ID,
        "subtask_id": _nullable(ID),
        "error_code": {"type": "integer"},
        "description": {"type": "string"},
        "detail": {"type": "string"},
        "error_time": TIME,
        "additional_info": {"type": ["string", "null"]},
    }
)

SCHEDULE = _object(
    {
        "schedule_id": ID,
        "task_ids": {"type": "array", "items": ID, "description": "tasks it created"},
        "task": {
            "type": "object",
            "properties": {
                "task_type": {"type": "integer", "enum": [4, 8]},
                "content": {"type": "object"},
                "notification_policy": NOTIFICATION_POLICY_SCHEMA,
            },
            "required": ["task_type", "content"],
            "description": "the task as posted; notification secrets masked",
        },
        "trigger": _object(
            {"cron": {"type": "string"}, "cron_timezone": {"type": "string"}},
        ),
        "status": {"type": "string", "enum": ["running", "paused"]},
        "next_run_time": _nullable(TIME),
        "create_time": TIME,
        "last_update_time": TIME,
    }
)

FIRE = _object(
    {
        "fire_id": ID,
        "fire_time": TIME,
        "outcome": {"type": "string", "enum": ["created", "skipped"]},
        "task_id": _nullable(ID),
        "reason": {"type": ["string", "null"], "description": "why it was skipped"},
        "record_time": TIME,
        "task_status": {
            **_nullable(STATUS),
            "enum": [*sorted(STATUS_NAMES), None],
            "description": "of the task it created; null when skipped or deleted since",
        },
    }
)

CONFIG_ENTRY: dict[str, JsonSchema] = {
    "id": ID,
    "tags": {"type": "array", "items": {"type": "string"}},
    "name": {"type": "string"},
    "value": {"description": "any JSON value the setting allows, or null"},
    "description": {"type": "string"},
    "create_time": TIME,
    "last_update_time": TIME,
    "is_default": {"type": "boolean"},
}
"""A row of the settings table, as `configs` of luna_sys_info shows it."""

COMPONENTS: dict[str, JsonSchema] = {
    "Error": _object(
        {
            "error_code": {"type": "integer"},
            "desc": {"type": "string"},
            "detail": {"type": "string"},
            "link": {"type": "string", "description": "the code's entry in /docs/errors"},
        }
    ),
    "Version": _object(
        {
            "Version": _object(
                {
                    "api": {"type": "integer"},
                    "major": {"type": "integer"},
                    "minor": {"type": "integer"},
                    "patch": {"type": "integer"},
                }
            )
        }
    ),
    "Account": ACCOUNT,
    "AccountWithStats": ACCOUNT_WITH_STATS,
    "Accounts": _object(
        {
            "accounts": {"type": "array", "items": ref("Account")},
            "account_count": {**COUNT, "description": "all accounts matching the filters"},
        }
    ),
    "AccountCreated": _object({"account_id": UUID}),
    "List": LIST,
    "Lists": _object(
        {
            "lists": {"type": "array", "items": ref("List")},
            "list_count": COUNT,
        }
    ),
    "Task": TASK,
    "Tasks": _object({"tasks": {"type": "array", "items": ref("Task")}}),
    "TaskCreated": _object({"task_id": ID}),
    "Count": _object({"count": COUNT}),
    "Subtasks": _object({"subtasks": {"type": "array", "items": SUBTASK}}),
    "TaskError": TASK_ERROR,
    "TaskErrors": _object({"errors": {"type": "array", "items": ref("TaskError")}}),
    "NotificationPolicy": NOTIFICATION_POLICY_SCHEMA,
    "TaskResult": {
        "description": "The stored result of a done task (GC: removed ids and counts; "
        "additional extraction: the objects handled). Any JSON value.",
    },
    "SearchResult": {
        "oneOf": [
            _object(
                {
                    "type": {"const": "account"},
                    "data": ref("AccountWithStats"),
                }
            ),
            _object({"type": {"const": "list"}, "data": ref("List")}),
            _object({"type": {"const": "task"}, "data": ref("Task")}),
        ]
    },
    "Schedule": SCHEDULE,
    "Schedules": {"type": "array", "items": ref("Schedule")},
    "ScheduleCreated": _object({"schedule_id": ID}),
    "SchedulePreview": _object(
        {
            "description": {"type": "string", "description": "the cron expression in words"},
            "next_fire_times": {
                "type": "array",
                "items": {"type": "string", "format": "date-time"},
                "description": "the fire times after `start`, in order, on the clock of the "
                "trigger's zone (ISO 8601 with the offset of that moment)",
            },
        }
    ),
    "Fires": _object({"fires": {"type": "array", "items": FIRE}}),
    "SysInfo": _object(
        {
            "services_versions": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "api": {"type": "integer"},
                        "major": {"type": "integer"},
                        "minor": {"type": "integer"},
                        "patch": {"type": "integer"},
                        "version": {"type": "string"},
                    },
                    "required": ["major", "minor", "patch"],
                },
                "description": "this service and its components",
            },
            "descriptor_info": {
                "type": "array",
                "items": _object({"descriptor_version": ID, "descriptor_count": COUNT}),
            },
            "configs": {"type": "array", "items": ref("ConfigEntry")},
            "current_faces_attributes_count": COUNT,
            "license_info": {
                "type": "object",
                "additionalProperties": _object({"is_available": {"type": "boolean"}, "value": {}}),
            },
            "signature": {"type": "string", "description": "HMAC-SHA256 of the rest (hex)"},
            "stats": {
                "type": "object",
                "properties": {
                    "routes_stats": {
                        "type": "array",
                        "items": _object(
                            {
                                "service": {"type": "string"},
                                "route": {"type": "string", "description": "METHOD:/route"},
                                "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                                "errors": {
                                    "type": "array",
                                    "items": _object(
                                        {"count": COUNT, "error_code": {"type": "string"}}
                                    ),
                                },
                                "request_stats": {
                                    "type": "array",
                                    "items": _object(
                                        {"count": COUNT, "status_code": {"type": "string"}}
                                    ),
                                },
                            }
                        ),
                    },
                },
                "required": ["routes_stats"],
            },
        }
    ),
    "ConfigEntry": _object(CONFIG_ENTRY),
    "Setting": _object(
        {
            **CONFIG_ENTRY,
            "default": {"description": "the value it has when not changed"},
            "rule": {"type": "string", "description": "what a value may be"},
        }
    ),
    "Settings": _object({"settings": {"type": "array", "items": ref("Setting")}}),
    "Workers": _object(
        {
            "processes": {
                "type": "array",
                "description": "every process running task workers, oldest first",
                "items": _object(
                    {
                        "process_id": {"type": "string", "description": "host:pid:random"},
                        "host": {"type": "string"},
                        "pid": {"type": "integer"},
                        "workers": {"type": "integer", "minimum": 1},
                        "start_time": TIME,
                        "heartbeat_time": TIME,
                        "alive": {
                            "type": "boolean",
                            "description": "heartbeat within WORKER_DEAD_AFTER_SECONDS",
                        },
                        "holds": {
                            "type": "array",
                            "description": "the subtasks its workers hold now",
                            "items": _object(
                                {
                                    "worker_id": {"type": "string"},
                                    "subtask_id": ID,
                                    "task_id": ID,
                                    "since": _nullable(TIME),
                                }
                            ),
                        },
                    }
                ),
            },
            "queue": {
                "type": "array",
                "description": "tasks with pending subtasks, in the order workers take them",
                "items": _object(
                    {
                        "task_id": ID,
                        "task_type": {"type": "integer"},
                        "task_status": {"type": "integer", "enum": [0, 1]},
                        "pending": {"type": "integer", "minimum": 1},
                        "first_subtask_id": ID,
                        "create_time": TIME,
                        "wait_reason": {
                            "type": ["string", "null"],
                            "description": "why it waits: 'no worker is running', "
                            "'behind task 4', ...",
                        },
                    }
                ),
            },
            "live_workers": {"type": "integer", "minimum": 0},
        }
    ),
    "Config": {
        "type": "object",
        "additionalProperties": {"type": "object"},
        "description": "the effective settings by group ({GROUP: {NAME: value}}), secrets "
        "shown as ********",
    },
    "Plugins": _object(
        {
            "plugins": {
                "type": "array",
                "items": _object(
                    {"name": {"type": "string"}, "running": {"type": "integer", "enum": [0, 1]}}
                ),
            }
        }
    ),
    "Health": _object({"execution_time": {"type": "number", "minimum": 0}}),
    "Unhealthy": _object(
        {
            "error_code": {"const": 29150},
            "desc": {"type": "string"},
            "detail": {"type": "string"},
            "link": {"type": "string"},
            "errors": {
                "type": "array",
                "items": _object({"component": {"type": "string"}, "error": ref("Error")}),
            },
            "execution_time": {"type": "number", "minimum": 0},
        }
    ),
    "AuditEvents": _object(
        {
            "events": {
                "type": "array",
                "items": _object(
                    {
                        "event_id": ID,
                        "event_time": TIME,
                        "actor_id": _nullable(UUID),
                        "actor_login": {"type": ["string", "null"]},
                        "action": {"type": "string"},
                        "target_type": {"type": "string"},
                        "target_id": {"type": ["string", "null"]},
                        "details": {"type": "object"},
                        "ip": {"type": ["string", "null"]},
                        "user_agent": {"type": ["string", "null"]},
                        "request_id": {"type": ["string", "null"]},
                    }
                ),
            },
            "event_count": COUNT,
        }
    ),
}
