"""Schedules read as crontab(5) reads them (docs/schedules.md, "What changed").

Stored triggers are brought to the new rules, and every schedule whose meaning
changes is named in the log line of this migration:

- `day_rule_changed` is set on schedules whose two day fields are both
  restricted (neither starts with `*`): they ran on days matching both fields,
  they now run on days matching either. The schedules page shows a note on them
  until the trigger is replaced;
- digits other than ASCII in a cron (full-width digits, stored as typed before) become
  ASCII digits: the same meaning, in the only spelling accepted now;
- zone names that are files of the zone directory but not IANA zones become the
  zone they stood for: `posix/X` is X, `right/X` is X (it counted leap seconds,
  so its fires were 27 s off), `localtime` is `local`, `posixrules` is
  America/New_York;
- `next_run_time` of every running schedule is computed again under the new
  rules; a trigger the new rules refuse (`last` as a day, which APScheduler
  took) is left as it was, named in the log line, and does not fire until
  replaced.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from webapp.db import engine

ID = "2026-12-03T05:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "schedules: crontab(5) rules (either day field, ASCII digits, IANA zones)"

log = logging.getLogger(__name__)

ZONE_SPELLINGS = {"localtime": "local", "posixrules": "America/New_York"}
SHOWN = 50
"""Schedules named per kind in the log line (the count is always given)."""

SQL = """
ALTER TABLE task_schedule ADD COLUMN day_rule_changed boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN task_schedule.day_rule_changed IS
  'stored before both restricted day fields meant either day (migration 2026-12-03T05:01); '
  'cleared when the trigger is replaced';
"""


def ascii_digits(text: str) -> str:
    return "".join(
        str(int(char)) if char.isdecimal() and not char.isascii() else char for char in text
    )


def iana_spelling(name: str) -> str:
    for prefix in ("posix/", "right/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return ZONE_SPELLINGS.get(name, name)


def both_days_restricted(cron: str) -> bool:
    fields = cron.split()
    return len(fields) == 5 and not fields[2].startswith("*") and not fields[4].startswith("*")


def _named(rows: list[str]) -> str:
    more = f", and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    return "; ".join(rows[:SHOWN]) + more


async def upgrade_triggers(conn: Any) -> str:
    """Bring every stored trigger to the new rules (see the module's docstring);
    the log line, also returned."""
    rows = await conn.fetch(
        "SELECT schedule_id, trigger, status FROM task_schedule ORDER BY schedule_id"
    )
    either: list[str] = []
    rewritten: list[str] = []
    refused: list[str] = []
    updates: list[tuple[int, str, bool, datetime | None]] = []
    now = datetime.now(UTC)
    if rows:
        # The app's own reading of a trigger: only needed when there are schedules,
        # so the migration still loads if that module moves.
        from webapp.schedules.triggers import cron_trigger
        from webapp.web.errors import LunaError
    for row in rows:
        sid = row["schedule_id"]
        trigger = json.loads(row["trigger"]) if isinstance(row["trigger"], str) else row["trigger"]
        cron = str(trigger.get("cron", ""))
        zone_name = str(trigger.get("cron_timezone", "utc"))
        new = {**trigger, "cron": ascii_digits(cron), "cron_timezone": iana_spelling(zone_name)}
        try:
            built = cron_trigger(new, check_fires=False)
        except LunaError as error:
            refused.append(f"#{sid} {trigger} ({error.params.get('message', error.detail)})")
            continue  # left as it was
        if new != trigger:
            rewritten.append(f"#{sid} {trigger} -> {new}")
        changed_days = both_days_restricted(new["cron"])
        if changed_days:
            either.append(f"#{sid} '{new['cron']}'")
        next_run = built.next_fire(now) if row["status"] == "running" else None
        updates.append((sid, json.dumps(new), changed_days, next_run))
    if updates:
        await conn.execute(
            "UPDATE task_schedule s SET trigger = u.trigger::jsonb, "
            "day_rule_changed = u.changed, next_run_time = u.next_run "
            "FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::timestamptz[]) "
            "AS u(schedule_id, trigger, changed, next_run) WHERE s.schedule_id = u.schedule_id",
            [u[0] for u in updates],
            [u[1] for u in updates],
            [u[2] for u in updates],
            [u[3] for u in updates],
        )
    line = (
        f"schedules under the crontab(5) rules: {len(rows)} checked; "
        f"{len(either)} now run on a day matching either day field "
        f"(before: both){': ' + _named(either) if either else ''}; "
        f"{len(rewritten)} triggers respelled{': ' + _named(rewritten) if rewritten else ''}; "
        f"{len(refused)} refused by the new rules, not fired until replaced"
        f"{': ' + _named(refused) if refused else ''}"
    )
    log.log(logging.WARNING if either or refused else logging.INFO, line)
    return line


async def forwards() -> Any:
    from piccolo.apps.migrations.auto.migration_manager import MigrationManager

    manager = MigrationManager(migration_id=ID, app_name="luna_admin", description=DESCRIPTION)

    async def run() -> None:
        transaction = engine().current_transaction.get()
        assert transaction is not None
        await transaction.connection.execute(SQL)
        await upgrade_triggers(transaction.connection)

    manager.add_raw(run)
    return manager
