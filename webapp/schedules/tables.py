"""Schedules and their fires. The schema is the SQL migration
piccolo_migrations/luna_admin_2026_11_28t0003_schedules.py (and 2026_12_03t0501_cron_rules);
these mirror it."""

from piccolo.columns import JSONB, BigInt, BigSerial, Boolean, SmallInt, Text, Timestamptz, Varchar
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
    day_rule_changed = Boolean(default=False)
    """Stored before both restricted day fields meant either day (migration
    luna_admin_2026_12_03t0501_cron_rules); cleared when the trigger is replaced."""


class ScheduleFire(Table, tablename="schedule_fire"):
    fire_id = BigSerial(primary_key=True)
    schedule_id = BigInt()
    fire_time = Timestamptz()
    outcome = Varchar(length=16)
    task_id = BigInt(null=True, default=None)
    reason = Text(null=True, default=None)
    record_time = Timestamptz()
