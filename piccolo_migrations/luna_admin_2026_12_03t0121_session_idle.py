"""Sessions end after SESSION_IDLE_TIMEOUT seconds without a request, besides their
absolute lifetime: `last_seen_time` is when the session was last used, refreshed
at most once a minute (webapp/accounts/sessions.py), not on every request."""

from webapp.db import sql_migration

ID = "2026-12-03T01:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "idle timeout of sessions"

SQL = r"""
ALTER TABLE auth_session ADD COLUMN last_seen_time timestamptz NOT NULL DEFAULT now();
"""


forwards = sql_migration(ID, DESCRIPTION, SQL)
