"""Schedules and their fires. The schema is the SQL migration
piccolo_migrations/luna_admin_2026_11_28t0003_schedules.py; these mirror it."""

from piccolo.columns import JSONB, BigInt, BigSerial, SmallInt, Text, Timestamptz, Varchar
from piccolo.table import Table


class TaskSchedule(Table, tablename="task_schedule"):
    schedule_id = BigSerial(primary_key=True)
    task_type = SmallInt()
    task = JSONB()
    trigger = JSONB()
    status = Varchar(length=16, default="running")
    next_run_time = Timestamptz(null=True, default=None)
    create_time = Timestamptz()
    last_update_time = Timestamptz()


class ScheduleFire(Table, tablename="schedule_fire"):
    fire_id = BigSerial(primary_key=True)
    schedule_id = BigInt()
    fire_time = Timestamptz()
    outcome = Varchar(length=16)
    task_id = BigInt(null=True, default=None)
    reason = Text(null=True, default=None)
    record_time = Timestamptz()
