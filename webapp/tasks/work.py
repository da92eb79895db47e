"""What a task does, split into subtasks and batches.

A `Work` plans a task as subtasks (ranges of ids) and runs a subtask batch by
batch: `fetch` reads the next batch after a cursor (outside any transaction),
`compute` does CPU work on it (extraction, in a thread), `apply` writes it in
the transaction that also records the subtask's progress. The worker
(webapp/tasks/worker.py) owns transactions, ownership checks and cancellation.
"""

from __future__ import annotations

import abc
import itertools
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webapp.web.params import parse_time

UUID_SPACE = 1 << 128
MAX_UUID_SUBTASKS = 64

MAX_RESULT_IDS = 1_000_000
"""Ids listed in one result (an answer of about 40 MB); beyond this the result
says how many it leaves out."""


@dataclass(frozen=True)
class Failure:
    """One object that could not be handled."""

    kind: str
    """The error's name in the catalogue (webapp/web/errors.py)."""
    object_id: str
    params: dict[str, Any]
    """What fills the kind's detail template."""


@dataclass
class Applied:
    """What one batch did."""

    cursor: Any
    handled: int = 0
    ids: list[str] | None = None
    """The handled ids for the result, when `apply` did not store them itself."""
    skipped: int = 0
    """Objects there was nothing to do for (a face without a sample): not failures."""
    failures: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class ResultPart:
    """Where a batch's handled ids go: subtask_result_part (subtask_id, seq)."""

    subtask_id: int
    seq: int


class Work(abc.ABC):
    def __init__(self, content: dict[str, Any], batch_size: int, subtask_size: int) -> None:
        self.content = content
        self.batch_size = batch_size
        self.subtask_size = subtask_size

    planned: int | None = None
    """How many objects `plan` expects (an estimate: rows may come and go before
    the workers reach them); the progress bar counts against it."""

    @property
    def stores_ids(self) -> bool:
        """Whether the result lists the handled ids (kept in subtask_result_part)."""
        return True

    @property
    def max_failures(self) -> int | None:
        """Stop the task after this many failed objects (None: never)."""
        return None

    @property
    def stores_result(self) -> bool:
        """Whether the task keeps a result at all."""
        return True

    @property
    def all_or_nothing(self) -> bool:
        """Whether one failed subtask fails the task (otherwise only all of them do)."""
        return False

    @abc.abstractmethod
    async def plan(self, conn: Any) -> list[dict[str, Any]]:
        """Subtask contents: `{"id_gte": ..., "id_lt": ...}` ranges covering the work;
        sets `planned`."""

    @abc.abstractmethod
    async def fetch(self, conn: Any, subtask: dict[str, Any], cursor: Any) -> Any | None:
        """The next batch after `cursor` within the subtask's range; None when it is done."""

    async def compute(self, batch: Any) -> Any:
        return None

    @abc.abstractmethod
    async def apply(self, conn: Any, batch: Any, computed: Any, part: ResultPart) -> Applied:
        """Write the batch, in the transaction of the batch."""

    async def collect(self, conn: Any, task_id: int) -> dict[str, Any]:
        """Once, when every subtask has ended, in the transaction that finishes the
        task (before its result is stored): what to add to the result."""
        return {}

    @abc.abstractmethod
    def summary(self, counts: Counts) -> tuple[dict[str, Any], str | None]:
        """The task result from all subtasks' counts, and the key under which the
        handled ids are added to it (None: ids are not kept)."""


@dataclass(frozen=True)
class Counts:
    """Objects handled, skipped and failed (a subtask's, or a task's summed)."""

    handled: int = 0
    skipped: int = 0
    failed: int = 0

    @classmethod
    def of(cls, progress: dict[str, Any]) -> Counts:
        return cls(
            int(progress.get("handled") or 0),
            int(progress.get("skipped") or 0),
            int(progress.get("failed") or 0),
        )

    @property
    def seen(self) -> int:
        """Every object looked at: the progress bar's value."""
        return self.handled + self.skipped + self.failed

    @property
    def nothing_succeeded(self) -> bool:
        """No object handled and at least one failed: the task or subtask failed."""
        return self.handled == 0 and self.failed > 0


def uuid_ranges(estimated: int, subtask_size: int) -> list[dict[str, Any]]:
    """Split the uuid space evenly into enough ranges for `estimated` objects.

    Ids are random (uuid4), so equal slices of the space hold about equal work.
    """
    parts = max(1, min(MAX_UUID_SUBTASKS, math.ceil(estimated / max(subtask_size, 1))))
    bounds = [UUID_SPACE * i // parts for i in range(parts + 1)]
    ranges = []
    for low, high in itertools.pairwise(bounds):
        ranges.append(
            {
                "id_gte": str(uuid.UUID(int=low)),
                # the last range is open above: uuid(int=2**128) does not exist
                "id_lt": str(uuid.UUID(int=high)) if high < UUID_SPACE else None,
            }
        )
    return ranges


def int_ranges(low: int | None, high: int | None, subtask_size: int) -> list[dict[str, Any]]:
    """[low, high] split into ranges of `subtask_size` ids (bigserial ids are dense)."""
    if low is None or high is None:
        return [{"id_gte": 0, "id_lt": 1}]
    return [
        {"id_gte": start, "id_lt": min(start + subtask_size, high + 1)}
        for start in range(low, high + 1, subtask_size)
    ]


class Filters:
    """Builds `WHERE` clauses with numbered parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, clause: str, *values: Any) -> None:
        """`clause` uses `{}` for each value's placeholder, in order."""
        placeholders = []
        for value in values:
            self.args.append(value)
            placeholders.append(f"${len(self.args)}")
        self.clauses.append(clause.format(*placeholders))

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "true"


def time_filter(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value, "filters")


def range_clause(
    filters: Filters, column: str, subtask: dict[str, Any], cursor: Any, cast: str
) -> None:
    filters.add(f"{column} >= {{}}::{cast}", subtask["id_gte"])
    if subtask.get("id_lt") is not None:
        filters.add(f"{column} < {{}}::{cast}", subtask["id_lt"])
    if cursor is not None:
        filters.add(f"{column} > {{}}::{cast}", cursor)
