"""Sign-in throttling counts failures until a window passes without one.

`window_start` (the first failure of a fixed window) becomes `last_failure`:
a counter is forgotten LOGIN_FAILURE_WINDOW seconds after its latest failure,
so a slow, steady guesser never starts again from zero. For a login key,
`locked_until` is the time the next guess from an address that already
failed may come (webapp/accounts/throttle.py). Old rows were written under the
fixed-window rule; they are dropped, which forgets at most one window of
failures.
"""

from webapp.db import sql_migration

ID = "2026-12-03T01:11:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "login throttle: last failure"

SQL = r"""
DELETE FROM login_throttle;
ALTER TABLE login_throttle RENAME COLUMN window_start TO last_failure;
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure);
"""


forwards = sql_migration(ID, DESCRIPTION, SQL)
