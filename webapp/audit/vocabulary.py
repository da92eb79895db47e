"""What the audit log can say: every action, and the kinds of object it names.

An action is `<domain>.<verb>`. `record` refuses a name that is not here, so a
typo cannot write events no filter finds; docs/audit.md lists the same table.
"""

from __future__ import annotations

ACTIONS: dict[str, str] = {
    "account.create": "An account was created (POST, or PUT with its id)",
    "account.delete": "An account was removed: gone from every route at once, its rows "
    "deleted in the background by the task named in the details",
    "account.delete_finished": "The background removal of an account ended: every row it "
    "owned is gone, and its id is free",
    "session.sign_in": "A session began (the sign-in page or POST /{api}/login)",
    "session.sign_in_failed": "Wrong credentials: a sign-in, or Basic credentials on any route",
    "session.sign_out": "A session was ended by its owner",
    "password.change": "A password was changed; every session of the account ended",
    "task.create": "A task was started by an operator",
    "task.cancel": "A task was cancelled (also when a running task is deleted)",
    "task.delete": "A task was deleted with its subtasks, errors and result",
    "task.policy_replace": "A task's notification policy was replaced",
    "schedule.create": "A schedule was created",
    "schedule.replace": "A schedule's task and trigger were replaced",
    "schedule.pause": "A schedule was paused",
    "schedule.start": "A paused schedule was started",
    "schedule.delete": "A schedule was deleted with its history of fires",
    "schedule.run": "A schedule fired and created a task (by its trigger, or run now)",
    "setting.update": "A setting was changed on the settings page or its route",
}

TARGET_TYPES: tuple[str, ...] = ("account", "task", "schedule", "setting")

DOMAINS: dict[str, list[str]] = {}
"""`account` -> every `account.*` action: a filter may name a whole domain."""
for _action in ACTIONS:
    DOMAINS.setdefault(_action.split(".", 1)[0], []).append(_action)
