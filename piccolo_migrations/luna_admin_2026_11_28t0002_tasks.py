"""Tasks: tasks, subtasks (id ranges claimed by workers), errors, results,
the parts of results written batch by batch, and the notification outbox.

A worker commits each batch of work together with the subtask's progress
(its cursor and the ids it handled), under a check that it still owns the
subtask: after a crash the next worker resumes at the cursor, so nothing is
lost and nothing is done twice.
"""

from webapp.db import sql_migration

ID = "2026-11-28T00:02:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tasks, subtasks, errors, results, notification outbox"

SQL = r"""
CREATE TABLE task (
    task_id bigserial PRIMARY KEY,
    task_type smallint NOT NULL CHECK (task_type BETWEEN 0 AND 9),
    task_status smallint NOT NULL DEFAULT 0 CHECK (task_status BETWEEN 0 AND 5),
    content jsonb NOT NULL,
    description varchar(128) NOT NULL DEFAULT '',
    -- the account the task works on (from its filters), for listing; no FK:
    -- a task outlives the account it cleaned up
    account_id uuid,
    notification_policy jsonb NOT NULL
        DEFAULT '{"enable": 1, "task_callbacks": [], "subtask_callbacks": []}',
    result_storage_policy jsonb NOT NULL DEFAULT '{"ttl": null}',
    schedule_id bigint,
    result_id uuid,
    count_task_parts_done integer NOT NULL DEFAULT 0,
    count_task_parts_all integer NOT NULL DEFAULT 0,
    create_time timestamptz NOT NULL DEFAULT now(),
    end_time timestamptz,
    last_update_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_create_time_idx ON task (create_time DESC, task_id DESC);
CREATE INDEX task_status_idx ON task (task_status);
CREATE INDEX task_schedule_idx ON task (schedule_id) WHERE schedule_id IS NOT NULL;

CREATE TABLE subtask (
    subtask_id bigserial PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES task (task_id) ON DELETE CASCADE,
    subtask_status smallint NOT NULL DEFAULT 0 CHECK (subtask_status BETWEEN 0 AND 5),
    -- the range of ids: {"id_gte": ..., "id_lt": ...}
    content jsonb NOT NULL,
    -- where the work stands: {"cursor": ..., "processed": n, "failed": n}
    progress jsonb NOT NULL DEFAULT '{}',
    result_id uuid,
    worker_id varchar(100),
    heartbeat_time timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    create_time timestamptz NOT NULL DEFAULT now(),
    start_time timestamptz,
    end_time timestamptz
);
CREATE INDEX subtask_task_idx ON subtask (task_id, subtask_id);
-- what workers look for: pending ones (claim) and running ones (reaper)
CREATE INDEX subtask_open_idx ON subtask (subtask_status, subtask_id)
    WHERE subtask_status IN (0, 1);

CREATE TABLE task_error (
    error_id bigserial PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES task (task_id) ON DELETE CASCADE,
    subtask_id bigint,
    error_code integer NOT NULL,
    description varchar(256) NOT NULL,
    detail text NOT NULL,
    additional_info text,
    error_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_error_task_idx ON task_error (task_id, error_time);
CREATE INDEX task_error_time_idx ON task_error (error_time);

-- What each batch handled (removed or extracted ids), appended as it commits.
-- Every id a result lists is a uuid; an array of them is compact and cheap.
CREATE TABLE subtask_result_part (
    subtask_id bigint NOT NULL REFERENCES subtask (subtask_id) ON DELETE CASCADE,
    seq integer NOT NULL,
    handled integer NOT NULL,
    ids uuid[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (subtask_id, seq)
);

CREATE TABLE task_result (
    result_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id bigint NOT NULL UNIQUE REFERENCES task (task_id) ON DELETE CASCADE,
    content jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz
);
CREATE INDEX task_result_expire_idx ON task_result (expire_time) WHERE expire_time IS NOT NULL;

-- Notifications to deliver, written in the transaction of the status change.
CREATE TABLE notification_outbox (
    notification_id bigserial PRIMARY KEY,
    task_id bigint,
    subtask_id bigint,
    callback jsonb NOT NULL,
    payload jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    last_error text,
    delivered_time timestamptz,
    failed boolean NOT NULL DEFAULT false,
    create_time timestamptz NOT NULL DEFAULT now()
);
-- The dispatcher claims the oldest pending rows, and keeps per-destination order
-- by looking for older pending rows of the same task.
CREATE INDEX notification_outbox_pending_idx ON notification_outbox (notification_id)
    WHERE delivered_time IS NULL AND NOT failed;
CREATE INDEX notification_outbox_task_pending_idx ON notification_outbox (task_id, notification_id)
    WHERE delivered_time IS NULL AND NOT failed;
"""


forwards = sql_migration(ID, DESCRIPTION, SQL)
