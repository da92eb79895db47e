"""Accounts removed in the background; every foreign key indexed; GC results read
from their parts.

- `account.remove_time`: set when an account's removal starts. From then on the
  account is gone from every route (queries read `remove_time IS NULL`), its
  login is free (the unique index on login covers live accounts only), and its
  rows are deleted by a task in bounded batches; the row itself goes last
  (webapp/tasks/account_removal.py). The account counter follows the mark:
  a trigger subtracts an account when it is marked, and a removed account's
  row is not subtracted again when it is finally deleted.
- Every foreign key gets an index whose leading columns are its own: a cascade
  or `SET NULL` otherwise scans the referencing table once per deleted row
  (`event.face_id` had none: removing 200,000 faces scanned the events 200,000
  times). The account indexes lead with the account and then the row's id, so
  the removal walks an account's rows in id order. A test reads the catalog so
  that no new foreign key comes without one. On a large platform, build these
  indexes by hand first with `CREATE INDEX CONCURRENTLY` under the same names:
  the migration then finds them (`IF NOT EXISTS`) and does not lock the tables.
- `task_result.ids_key`: the id lists of a result (the removed or extracted ids)
  stay in the parts the batches wrote and are read from there when the result
  is asked for, so finishing a task no longer copies a million ids into one
  jsonb value. `subtask_result_part.ids` is stored without compression: random
  uuids do not compress, and trying costs every batch.
"""

from webapp.db import sql_migration

ID = "2026-12-03T03:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "accounts removed in the background, an index for every foreign key, lazy results"

SQL = r"""
ALTER TABLE account ADD COLUMN remove_time timestamptz;
ALTER TABLE account DROP CONSTRAINT account_login_key;
CREATE UNIQUE INDEX account_login_key ON account (login) WHERE remove_time IS NULL;
CREATE INDEX account_removed_idx ON account (account_id) WHERE remove_time IS NOT NULL;
DROP INDEX account_create_time_idx;
CREATE INDEX account_create_time_idx ON account (create_time DESC, account_id DESC)
    WHERE remove_time IS NULL;

-- A removed account was subtracted when it was marked: not again when its row goes.
CREATE OR REPLACE FUNCTION account_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE account_total SET account_count = account_count
        - (SELECT count(*) FROM old_rows WHERE remove_time IS NULL);
    RETURN NULL;
END $$;

-- Marking (or, by hand, unmarking) an account moves it out of (into) the count.
-- Every UPDATE of account runs it (a column list cannot go with transition tables);
-- the join is over the few rows the statement changed.
CREATE FUNCTION account_rows_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE account_total SET account_count = account_count + d.n
      FROM (SELECT sum(CASE WHEN n.remove_time IS NULL THEN 1 ELSE -1 END) AS n
              FROM old_rows o JOIN new_rows n ON n.account_id = o.account_id
             WHERE (o.remove_time IS NULL) <> (n.remove_time IS NULL)) d
     WHERE d.n IS NOT NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER account_rows_updated AFTER UPDATE ON account
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION account_rows_updated();

-- Foreign keys without an index of their own.
CREATE INDEX IF NOT EXISTS event_face_idx ON event (face_id);
CREATE INDEX IF NOT EXISTS sample_account_idx ON sample (account_id, sample_id);
-- The account's rows in id order (the removal's batches), and the foreign key.
CREATE INDEX IF NOT EXISTS face_attribute_account_id_idx
    ON face_attribute (account_id, attribute_id);
DROP INDEX IF EXISTS face_attribute_account_idx;
CREATE INDEX IF NOT EXISTS event_account_id_idx ON event (account_id, event_id);
DROP INDEX IF EXISTS event_account_idx;

ALTER TABLE task_result ADD COLUMN ids_key text;
ALTER TABLE subtask_result_part ALTER COLUMN ids SET STORAGE EXTERNAL;
"""


forwards = sql_migration(ID, DESCRIPTION, SQL)
