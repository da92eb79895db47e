"""Tasks and what they produce. The schema is the SQL migrations
piccolo_migrations/luna_admin_2026_11_28t0002_tasks.py and
luna_admin_2026_12_03t0401_task_outcomes.py; these mirror them."""

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Task(Table, tablename="task"):
    task_id = BigSerial(primary_key=True)
    task_type = SmallInt()
    task_status = SmallInt(default=0)
    content = JSONB()
    description = Varchar(length=128, default="")
    account_id = UUID(null=True, default=None)
    notification_policy = JSONB()
    result_storage_policy = JSONB()
    schedule_id = BigInt(null=True, default=None)
    result_id = UUID(null=True, default=None)
    count_task_parts_done = Integer(default=0)
    count_task_parts_all = Integer(default=0)
    objects_planned = BigInt(null=True, default=None)
    create_time = Timestamptz()
    start_time = Timestamptz(null=True, default=None)
    end_time = Timestamptz(null=True, default=None)
    last_update_time = Timestamptz()


class Subtask(Table, tablename="subtask"):
    subtask_id = BigSerial(primary_key=True)
    task_id = ForeignKey(references=Task, null=False, on_delete=OnDelete.cascade)
    subtask_status = SmallInt(default=0)
    content = JSONB()
    progress = JSONB()
    result_id = UUID(null=True, default=None)
    worker_id = Varchar(length=100, null=True, default=None)
    heartbeat_time = Timestamptz(null=True, default=None)
    attempts = Integer(default=0)
    create_time = Timestamptz()
    start_time = Timestamptz(null=True, default=None)
    end_time = Timestamptz(null=True, default=None)


class TaskError(Table, tablename="task_error"):
    error_id = BigSerial(primary_key=True)
    task_id = ForeignKey(references=Task, null=False, on_delete=OnDelete.cascade)
    subtask_id = BigInt(null=True, default=None)
    error_code = Integer()
    description = Varchar(length=256)
    detail = Text()
    additional_info = Text(null=True, default=None)
    error_time = Timestamptz()


class SubtaskResultPart(Table, tablename="subtask_result_part"):
    subtask_id = ForeignKey(references=Subtask, null=False, on_delete=OnDelete.cascade)
    seq = Integer()
    handled = Integer()
    ids = Array(base_column=UUID())


class TaskResult(Table, tablename="task_result"):
    result_id = UUID(primary_key=True)
    task_id = ForeignKey(references=Task, null=False, on_delete=OnDelete.cascade)
    content = JSONB()
    """The counts and flags; the ids are read from the parts (subtask_result_part)."""
    ids_key = Text(null=True, default=None)
    """The key under which the result route lists the parts' ids (None: no ids)."""
    create_time = Timestamptz()
    expire_time = Timestamptz(null=True, default=None)


class NotificationOutbox(Table, tablename="notification_outbox"):
    notification_id = BigSerial(primary_key=True)
    task_id = BigInt(null=True, default=None)
    subtask_id = BigInt(null=True, default=None)
    callback = JSONB()
    payload = JSONB()
    attempts = Integer(default=0)
    next_attempt_time = Timestamptz()
    last_error = Text(null=True, default=None)
    delivered_time = Timestamptz(null=True, default=None)
    failed = Boolean(default=False)
    create_time = Timestamptz()


class WorkerProcess(Table, tablename="worker_process"):
    process_id = Varchar(length=90, primary_key=True)
    host = Text()
    pid = Integer()
    workers = Integer()
    start_time = Timestamptz()
    heartbeat_time = Timestamptz()
