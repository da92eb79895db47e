"""Foundation: accounts, sessions, login throttling and the platform data.

Written as SQL rather than generated, because the schema needs what Piccolo's
auto-migrations cannot express: CHECK constraints, partial and descending
indexes, and the statement-level triggers that keep the counters the Admin
reports (accounts in total, per-account stats, per-list face counts) exact and
cheap to read at millions of faces.

The counters are maintained for INSERT and DELETE (and cascades, which are
deletes). Rows never move between accounts or lists by UPDATE in this schema;
TRUNCATE bypasses the triggers, so `luna-admin recount` rebuilds the counters.
"""

from webapp.db import sql_migration

ID = "2026-11-28T00:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "foundation: accounts, sessions, throttling, platform data, counters"

SQL = r"""
CREATE TABLE account (
    account_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    login varchar(128) NOT NULL UNIQUE,
    password_hash text NOT NULL,
    account_type varchar(16) NOT NULL DEFAULT 'advanced_user'
        CHECK (account_type IN ('admin', 'advanced_user', 'user')),
    description varchar(128) NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    last_update_time timestamptz NOT NULL DEFAULT now()
);
-- newest first is the order of every account listing
CREATE INDEX account_create_time_idx ON account (create_time DESC, account_id DESC);
CREATE INDEX account_admin_idx ON account (account_id) WHERE account_type = 'admin';

-- one row: the number of accounts, so an unfiltered page needs no count(*)
CREATE TABLE account_total (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    account_count bigint NOT NULL DEFAULT 0
);
INSERT INTO account_total (id, account_count) VALUES (true, 0);

CREATE TABLE account_stats (
    account_id uuid PRIMARY KEY REFERENCES account (account_id) ON DELETE CASCADE,
    list_count bigint NOT NULL DEFAULT 0,
    face_count bigint NOT NULL DEFAULT 0,
    face_attribute_count bigint NOT NULL DEFAULT 0
);

CREATE TABLE auth_session (
    token_hash bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz NOT NULL,
    ip varchar(64) NOT NULL DEFAULT '',
    user_agent varchar(256) NOT NULL DEFAULT ''
);
CREATE INDEX auth_session_account_idx ON auth_session (account_id);
CREATE INDEX auth_session_expire_idx ON auth_session (expire_time);

CREATE TABLE login_throttle (
    key varchar(200) PRIMARY KEY,
    failures integer NOT NULL,
    window_start timestamptz NOT NULL,
    locked_until timestamptz
);

CREATE TABLE list (
    list_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    user_data varchar(128) NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    last_update_time timestamptz NOT NULL DEFAULT now(),
    face_count bigint NOT NULL DEFAULT 0
);
CREATE INDEX list_account_idx ON list (account_id, create_time DESC, list_id DESC);
CREATE INDEX list_create_time_idx ON list (create_time DESC, list_id DESC);

CREATE TABLE face (
    face_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    user_data varchar(128) NOT NULL DEFAULT '',
    external_id varchar(36) NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    last_update_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX face_account_idx ON face (account_id, face_id);
CREATE INDEX face_create_time_idx ON face (create_time);

CREATE TABLE list_face (
    list_id uuid NOT NULL REFERENCES list (list_id) ON DELETE CASCADE,
    face_id uuid NOT NULL REFERENCES face (face_id) ON DELETE CASCADE,
    link_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, face_id)
);
CREATE INDEX list_face_face_idx ON list_face (face_id);

CREATE TABLE face_attribute (
    attribute_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    face_id uuid REFERENCES face (face_id) ON DELETE SET NULL,
    basic_attributes jsonb,
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz
);
CREATE INDEX face_attribute_account_idx ON face_attribute (account_id);
CREATE INDEX face_attribute_face_idx ON face_attribute (face_id);
CREATE INDEX face_attribute_expire_idx ON face_attribute (expire_time)
    WHERE expire_time IS NOT NULL;

CREATE TABLE descriptor (
    descriptor_id bigserial PRIMARY KEY,
    face_id uuid NOT NULL REFERENCES face (face_id) ON DELETE CASCADE,
    descriptor_version integer NOT NULL,
    vector bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    UNIQUE (face_id, descriptor_version)
);
CREATE INDEX descriptor_version_idx ON descriptor (descriptor_version, descriptor_id);

CREATE TABLE event (
    event_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    handler_id uuid,
    face_id uuid REFERENCES face (face_id) ON DELETE SET NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_account_idx ON event (account_id, create_time);
CREATE INDEX event_create_time_idx ON event (create_time);

CREATE TABLE sample (
    sample_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    face_id uuid REFERENCES face (face_id) ON DELETE SET NULL,
    event_id uuid REFERENCES event (event_id) ON DELETE SET NULL,
    image bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sample_face_idx ON sample (face_id);
CREATE INDEX sample_event_idx ON sample (event_id);

-- Counters. Statement-level triggers with transition tables: one UPDATE per
-- statement and account, so COPY of a million faces pays a single aggregate.

CREATE FUNCTION account_rows_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE account_total SET account_count = account_count + (SELECT count(*) FROM new_rows);
    INSERT INTO account_stats (account_id) SELECT account_id FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER account_rows_inserted AFTER INSERT ON account
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION account_rows_inserted();

CREATE FUNCTION account_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE account_total SET account_count = account_count - (SELECT count(*) FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER account_rows_deleted AFTER DELETE ON account
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION account_rows_deleted();

-- One function per (counter column, sign); TG_ARGV names the column.
CREATE FUNCTION account_stats_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'UPDATE account_stats s SET %1$I = s.%1$I + d.n
           FROM (SELECT account_id, count(*) AS n FROM new_rows GROUP BY account_id) d
          WHERE s.account_id = d.account_id', TG_ARGV[0]);
    RETURN NULL;
END $$;
CREATE FUNCTION account_stats_subtract() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'UPDATE account_stats s SET %1$I = s.%1$I - d.n
           FROM (SELECT account_id, count(*) AS n FROM old_rows GROUP BY account_id) d
          WHERE s.account_id = d.account_id', TG_ARGV[0]);
    RETURN NULL;
END $$;

CREATE TRIGGER list_rows_inserted AFTER INSERT ON list REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION account_stats_add('list_count');
CREATE TRIGGER list_rows_deleted AFTER DELETE ON list REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION account_stats_subtract('list_count');
CREATE TRIGGER face_rows_inserted AFTER INSERT ON face REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION account_stats_add('face_count');
CREATE TRIGGER face_rows_deleted AFTER DELETE ON face REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION account_stats_subtract('face_count');
CREATE TRIGGER face_attribute_rows_inserted AFTER INSERT ON face_attribute
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION account_stats_add('face_attribute_count');
CREATE TRIGGER face_attribute_rows_deleted AFTER DELETE ON face_attribute
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION account_stats_subtract('face_attribute_count');

CREATE FUNCTION list_faces_linked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE list l SET face_count = l.face_count + d.n
      FROM (SELECT list_id, count(*) AS n FROM new_rows GROUP BY list_id) d
     WHERE l.list_id = d.list_id;
    RETURN NULL;
END $$;
CREATE FUNCTION list_faces_unlinked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE list l SET face_count = l.face_count - d.n
      FROM (SELECT list_id, count(*) AS n FROM old_rows GROUP BY list_id) d
     WHERE l.list_id = d.list_id;
    RETURN NULL;
END $$;
CREATE TRIGGER list_face_rows_inserted AFTER INSERT ON list_face REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION list_faces_linked();
CREATE TRIGGER list_face_rows_deleted AFTER DELETE ON list_face REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION list_faces_unlinked();
"""


forwards = sql_migration(ID, DESCRIPTION, SQL)
