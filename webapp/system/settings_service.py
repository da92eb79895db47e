"""The settings kept in the database: list them, read values, change one.

Every change of a setting, a reset included, goes through `update_setting`,
called inside a transaction: whatever must happen with a change (the audit
log) is added there, in the same transaction. Nothing here knows HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from webapp import audit, db
from webapp.system.settings_catalog import BY_NAME, CATALOGUE, SettingSpec
from webapp.web.errors import LunaError

COLUMNS = (
    "id, tags, name, value::text AS value, description, "
    f"{db.iso_sql('create_time', 'create_time')}, "
    f"{db.iso_sql('last_update_time', 'last_update_time')}, is_default"
)


def _setting(row: asyncpg.Record) -> dict[str, Any]:
    """A row as the reference's `configs` item."""
    return {
        "id": row["id"],
        "tags": list(row["tags"]),
        "name": row["name"],
        "value": json.loads(row["value"]),
        "description": row["description"],
        "create_time": row["create_time"],
        "last_update_time": row["last_update_time"],
        "is_default": row["is_default"],
    }


def spec_of(name: str) -> SettingSpec:
    spec = BY_NAME.get(name)
    if spec is None:
        raise LunaError("SETTING_NOT_FOUND", name=name[:64])
    return spec


INSERT_DEFAULT_SQL = (
    "INSERT INTO setting (name, tags, value, description) "
    "VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (name) DO NOTHING"
)


def _default_row(spec: SettingSpec) -> tuple[Any, ...]:
    return (spec.name, list(spec.tags), json.dumps(spec.default), spec.description)


async def ensure_defaults() -> None:
    """Insert, with its default, every catalogued setting the table lacks (one added
    to the catalogue after the migration, or after a TRUNCATE). Settings already
    there keep their values; safe when several processes do it at once."""
    async with db.connection() as conn:
        await conn.executemany(INSERT_DEFAULT_SQL, [_default_row(spec) for spec in CATALOGUE])


async def list_settings() -> list[dict[str, Any]]:
    """The catalogued settings, in the catalogue's order (rows of settings no longer
    in the catalogue are left alone and not shown). A catalogued setting the table
    lacks is inserted with its default first."""
    names = [spec.name for spec in CATALOGUE]
    query = f"SELECT {COLUMNS} FROM setting WHERE name = ANY($1::text[])"
    rows = await db.fetch(query, names)
    if len(rows) < len(CATALOGUE):
        await ensure_defaults()
        rows = await db.fetch(query, names)
    order = {spec.name: index for index, spec in enumerate(CATALOGUE)}
    return sorted((_setting(row) for row in rows), key=lambda s: order[s["name"]])


async def values(*names: str) -> dict[str, Any]:
    """The current values of some settings (the default for one the table lacks)."""
    rows = await db.fetch(
        "SELECT name, value::text AS value FROM setting WHERE name = ANY($1::text[])", list(names)
    )
    found = {row["name"]: json.loads(row["value"]) for row in rows}
    return {name: found[name] if name in found else spec_of(name).default for name in names}


@dataclass(frozen=True)
class SettingChange:
    setting: dict[str, Any]
    """The setting as stored now."""
    previous: Any
    """Its value before the change."""


UPDATE_SQL = f"""
UPDATE setting s SET value = $2::jsonb, is_default = $3, last_update_time = now()
  FROM (SELECT id, value FROM setting WHERE name = $1 FOR UPDATE) old
 WHERE s.id = old.id
RETURNING old.value::text AS previous, s.id, s.tags, s.name, s.value::text AS value,
          s.description, {db.iso_sql("s.create_time", "create_time")},
          {db.iso_sql("s.last_update_time", "last_update_time")}, s.is_default
"""


async def update_setting(conn: asyncpg.Connection, name: str, value: Any) -> SettingChange:
    """THE way a setting changes: check the value, store it, record whether it is the
    default. Call it inside a transaction on `conn`; a bad value raises 12022 before
    anything is written. A reset is this with the default value."""
    spec = spec_of(name)
    stored = spec.check(value)
    args = (name, json.dumps(stored), stored == spec.default)
    row = await conn.fetchrow(UPDATE_SQL, *args)
    if row is None:
        # Catalogued but not inserted yet (ensure_defaults runs at start).
        await conn.execute(INSERT_DEFAULT_SQL, *_default_row(spec))
        row = await conn.fetchrow(UPDATE_SQL, *args)
    assert row is not None
    previous = json.loads(row["previous"])
    details = {"previous_value": previous, "value": stored, "is_default": stored == spec.default}
    await audit.record(conn, "setting.update", "setting", name, details)
    return SettingChange(setting=_setting(row), previous=previous)


async def change_setting(name: str, value: Any) -> SettingChange:
    """`update_setting` in a transaction of its own."""
    async with db.connection() as conn, conn.transaction():
        return await update_setting(conn, name, value)


async def reset_setting(name: str) -> SettingChange:
    """Back to the default declared in the catalogue (is_default becomes true)."""
    return await change_setting(name, spec_of(name).default)
