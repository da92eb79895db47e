"""The audit log: one row per change (accounts, sessions, passwords, tasks,
schedules, settings), written in the same transaction as the change.

No foreign keys: an event outlives the account that made it and the object it
names, which is the point of keeping it. `actor_login` is copied for the same
reason. The vocabulary of `action` is kept in webapp/audit/vocabulary.py (a new
action needs no migration); the CHECK only guards its form.
"""

from webapp.db import sql_migration

ID = "2026-11-28T00:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "the audit log"

SQL = r"""
CREATE TABLE audit_event (
    event_id bigserial PRIMARY KEY,
    event_time timestamptz NOT NULL DEFAULT now(),
    -- NULL for the system (the scheduler, the command line) and for a failed
    -- sign-in with an unknown login
    actor_id uuid,
    -- the login at the time, or 'system'; kept when the account is deleted
    actor_login text,
    action text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    target_type text NOT NULL,
    -- NULL when there is no single object (a failed sign-in with an unknown login)
    target_id text,
    -- what changed; secrets masked before they get here
    details jsonb NOT NULL DEFAULT '{}',
    ip inet,
    user_agent text,
    request_id text
);
-- The page's default order, and every time range.
CREATE INDEX audit_event_time_idx ON audit_event (event_time DESC, event_id DESC);
-- One per filter of the page, each ordered as the page is.
CREATE INDEX audit_event_actor_idx ON audit_event (actor_login, event_time DESC, event_id DESC);
CREATE INDEX audit_event_action_idx ON audit_event (action, event_time DESC, event_id DESC);
CREATE INDEX audit_event_target_idx
    ON audit_event (target_type, target_id, event_time DESC, event_id DESC);
"""


forwards = sql_migration(ID, DESCRIPTION, SQL)
