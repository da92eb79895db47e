"""Task schedules and the record of their fires.

`task_schedule` is the truth about schedules; the leader's APScheduler jobs are
rebuilt from it. `schedule_fire` records every fire under a unique
(schedule_id, fire_time): the INSERT that wins the race is the only one that may
create a task, so two processes firing the same time create one task.
"""

from webapp.db import sql_migration

ID = "2026-11-28T00:03:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "task schedules and their fires"

SQL = r"""
CREATE TABLE task_schedule (
    schedule_id bigserial PRIMARY KEY,
    task_type smallint NOT NULL CHECK (task_type IN (4, 8)),
    -- the task as posted: {task_type, content, description?, notification_policy?,
    -- result_storage_policy?}
    task jsonb NOT NULL,
    -- {cron, cron_timezone}
    trigger jsonb NOT NULL,
    status varchar(16) NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'paused')),
    -- computed on every change and after every fire; NULL while paused
    next_run_time timestamptz,
    create_time timestamptz NOT NULL DEFAULT now(),
    last_update_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_schedule_create_time_idx ON task_schedule (create_time DESC, schedule_id DESC);

-- No foreign key: the history of a deleted schedule is harmless and its tasks stay too.
CREATE TABLE schedule_fire (
    fire_id bigserial PRIMARY KEY,
    schedule_id bigint NOT NULL,
    fire_time timestamptz NOT NULL,
    outcome varchar(16) NOT NULL CHECK (outcome IN ('created', 'skipped')),
    task_id bigint,
    reason text,
    record_time timestamptz NOT NULL DEFAULT now(),
    UNIQUE (schedule_id, fire_time)
);
"""


forwards = sql_migration(ID, DESCRIPTION, SQL)
