"""Every foreign key has an index its cascade or SET NULL can use, read from the
live schema's catalog: the next table with a foreign key cannot forget it.

Without one, deleting a referenced row scans the whole referencing table (once
per row deleted): removing 200,000 faces scanned the events 200,000 times.
"""

from __future__ import annotations

from webapp import db

# A foreign key is covered by a valid, non-partial index whose leading columns
# are the key's columns (in any order: the lookup is an equality on each).
# indkey is an int2vector, 0-based once cast to an array.
UNCOVERED_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text AS table_name, c.conname AS constraint_name,
       (SELECT array_agg(a.attname::text ORDER BY k.n)
          FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns
FROM pg_constraint c
WHERE c.contype = 'f' AND c.connamespace = $1::regnamespace
  AND NOT EXISTS (
      SELECT 1 FROM pg_index i
      WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL
        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)
ORDER BY 1, 2
"""


async def uncovered(schema: str) -> list[str]:
    rows = await db.fetch(UNCOVERED_FOREIGN_KEYS, schema)
    return [f"{r['table_name']}.{r['constraint_name']} ({', '.join(r['columns'])})" for r in rows]


async def test_every_foreign_key_has_an_index(client):
    foreign_keys = await db.fetchrow(
        "SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f' "
        "AND connamespace = 'public'::regnamespace"
    )
    assert foreign_keys is not None and foreign_keys["n"] >= 18  # the check sees the schema
    assert await uncovered("public") == []


async def test_the_check_finds_a_foreign_key_without_an_index(client):
    await db.fetch("DROP SCHEMA IF EXISTS fk_probe CASCADE")
    await db.fetch("CREATE SCHEMA fk_probe")
    try:
        await db.fetch("CREATE TABLE fk_probe.parent (id int PRIMARY KEY, other int UNIQUE)")
        await db.fetch(
            "CREATE TABLE fk_probe.child (id int PRIMARY KEY, "
            "parent_id int REFERENCES fk_probe.parent ON DELETE CASCADE, "
            "other_id int REFERENCES fk_probe.parent (other) ON DELETE SET NULL, "
            "tail_id int REFERENCES fk_probe.parent ON DELETE CASCADE)"
        )
        # Covered: leading column. Not covered: second column of an index, partial index.
        await db.fetch("CREATE INDEX ON fk_probe.child (parent_id, id)")
        await db.fetch("CREATE INDEX ON fk_probe.child (id, tail_id)")
        await db.fetch("CREATE INDEX ON fk_probe.child (other_id) WHERE other_id > 0")
        assert await uncovered("fk_probe") == [
            "fk_probe.child.child_other_id_fkey (other_id)",
            "fk_probe.child.child_tail_id_fkey (tail_id)",
        ]
    finally:
        await db.fetch("DROP SCHEMA fk_probe CASCADE")
