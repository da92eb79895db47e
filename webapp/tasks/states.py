"""Task types and statuses, as the LUNA PLATFORM numbers them."""

from __future__ import annotations

import enum


class TaskType(enum.IntEnum):
    LAMBDA = 0
    LINKER = 1
    CLUSTERING = 2
    REPORTER = 3
    GC = 4
    EXPORTER = 5
    CROSS_MATCH = 6
    ROC = 7
    ADDITIONAL_EXTRACT = 8
    ESTIMATOR = 9


class Status(enum.IntEnum):
    """Task and subtask statuses (the same numbers for both)."""

    PENDING = 0
    IN_PROGRESS = 1
    CANCELLED = 2
    FAILED = 3
    COLLECTING_RESULTS = 4
    DONE = 5

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.CANCELLED, Status.FAILED, Status.DONE})
CANCELLABLE = frozenset({Status.PENDING, Status.IN_PROGRESS, Status.COLLECTING_RESULTS})

TYPE_NAMES = {t.value: t.name.lower() for t in TaskType}
STATUS_NAMES = {s.value: s.name.lower() for s in Status}

RESULT_TTL_DAYS = (1, 2, 3, 4, 5, 6, 7, 14, 30, 60, 90, 180, 365, 730, 1095)


def outcome(status: int, failed: int = 0) -> tuple[str, str]:
    """(css key, words) of a task's or subtask's badge: a done task with failures
    reads differently from a clean one, and from a failed one."""
    if status == Status.DONE and failed:
        return "done-with-failures", "done with failures"
    return f"status-{status}", STATUS_NAMES.get(status, str(status))
