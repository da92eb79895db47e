"""What the workers are doing and what waits for them: the worker processes,
the queue of pending subtasks per task, and why a pending task waits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webapp import db

PROCESSES_SQL = f"""
SELECT p.process_id, p.host, p.pid, p.workers,
       {db.iso_sql("p.start_time", "start_time")},
       {db.iso_sql("p.heartbeat_time", "heartbeat_time")},
       extract(epoch FROM now() - p.heartbeat_time)::float8 AS heartbeat_age,
       coalesce((SELECT json_agg(json_build_object(
                    'worker_id', s.worker_id, 'subtask_id', s.subtask_id, 'task_id', s.task_id,
                    'since', to_char(s.start_time AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                    ORDER BY s.worker_id)
                 FROM subtask s
                 WHERE s.subtask_status = 1 AND starts_with(s.worker_id, p.process_id || '/')),
                '[]') AS holds
FROM worker_process p
ORDER BY p.start_time, p.process_id
"""

QUEUE_SQL = f"""
SELECT s.task_id, t.task_type, t.task_status, count(*) AS pending,
       min(s.subtask_id) AS first_subtask_id,
       {db.iso_sql("t.create_time", "create_time")}
FROM subtask s JOIN task t ON t.task_id = s.task_id
WHERE s.subtask_status = 0 AND t.task_status IN (0, 1)
GROUP BY s.task_id, t.task_type, t.task_status, t.create_time
ORDER BY min(s.subtask_id)
"""
"""Workers claim the lowest pending subtask id first: this is the queue's order."""


@dataclass
class Overview:
    processes: list[dict[str, Any]]
    queue: list[dict[str, Any]]
    dead_after: float

    @property
    def live_workers(self) -> int:
        return sum(p["workers"] for p in self.processes if p["alive"])

    @property
    def busy_with(self) -> list[int]:
        """The tasks whose subtasks live workers hold now."""
        return sorted({h["task_id"] for p in self.processes if p["alive"] for h in p["holds"]})

    @property
    def busy_workers(self) -> int:
        return sum(len(p["holds"]) for p in self.processes if p["alive"])

    def wait_reason(self, task_id: int) -> str | None:
        """Why this task's pending subtasks wait (None: it has none waiting)."""
        place = next((i for i, q in enumerate(self.queue) if q["task_id"] == task_id), None)
        if place is None:
            return None
        if not self.live_workers:
            return "no worker is running"
        ahead = [q["task_id"] for q in self.queue[:place]]
        if ahead:
            return f"behind {_tasks(ahead)}"
        if self.busy_workers >= self.live_workers:
            others = [t for t in self.busy_with if t != task_id]
            if others:
                return f"behind {_tasks(others)} (every worker is busy)"
            return "every worker is busy with this task's other parts"
        return "waiting for an idle worker to claim it"

    def json(self) -> dict[str, Any]:
        return {
            "processes": [
                {k: v for k, v in p.items() if k != "heartbeat_age"} for p in self.processes
            ],
            "queue": [{**q, "wait_reason": self.wait_reason(q["task_id"])} for q in self.queue],
            "live_workers": self.live_workers,
        }


def _tasks(ids: list[int], shown: int = 3) -> str:
    words = ", ".join(str(i) for i in ids[:shown])
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return f"task{'s' if len(ids) > 1 else ''} {words}{more}"


async def overview(dead_after: float) -> Overview:
    processes = []
    for row in await db.fetch(PROCESSES_SQL):
        process = dict(row)
        process["holds"] = json.loads(process["holds"])
        process["alive"] = process["heartbeat_age"] < dead_after
        processes.append(process)
    queue = [dict(row) for row in await db.fetch(QUEUE_SQL)]
    return Overview(processes, queue, dead_after)
