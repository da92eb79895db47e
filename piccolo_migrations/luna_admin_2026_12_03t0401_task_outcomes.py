"""Task outcomes, progress and the worker registry (issue 10, items 4-7).

- `task.objects_planned`: the count estimated when the task was planned, so the
  progress bar moves per batch (objects handled of objects planned).
- `task.start_time`: when the first worker took it (duration, rate, ETA).
- One task error per subtask and error code: a repeated failure adds to the
  count kept in `additional_info`, so a million failures make a handful of rows.
  Rows written before this migration are merged the same way first.
- `worker_process`: every process that runs task workers registers itself and
  heartbeats, for the workers page and for telling why a task waits.
"""

from webapp.db import sql_migration

ID = "2026-12-03T04:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "task outcomes: planned objects, start time, grouped errors, worker processes"

SQL = r"""
ALTER TABLE task ADD COLUMN objects_planned bigint;
ALTER TABLE task ADD COLUMN start_time timestamptz;

CREATE TEMPORARY TABLE task_error_group ON COMMIT DROP AS
    SELECT subtask_id, error_code, min(error_id) AS keep, count(*) AS n
    FROM task_error WHERE subtask_id IS NOT NULL
    GROUP BY subtask_id, error_code HAVING count(*) > 1;
UPDATE task_error e
    SET additional_info = json_build_object('count', g.n, 'first_ids', '[]'::json)::text
    FROM task_error_group g WHERE e.error_id = g.keep;
DELETE FROM task_error e USING task_error_group g
    WHERE e.subtask_id = g.subtask_id AND e.error_code = g.error_code AND e.error_id <> g.keep;
CREATE UNIQUE INDEX task_error_subtask_code_idx ON task_error (subtask_id, error_code)
    WHERE subtask_id IS NOT NULL;

CREATE TABLE worker_process (
    -- host:pid:random; a worker of the process is process_id/n (subtask.worker_id)
    process_id varchar(90) PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    workers integer NOT NULL,
    start_time timestamptz NOT NULL DEFAULT now(),
    heartbeat_time timestamptz NOT NULL DEFAULT now()
);
"""


forwards = sql_migration(ID, DESCRIPTION, SQL)
