"""Settings kept in the database, and the request statistics of every route.

`setting` is the `configs` of GET /{api}/luna_sys_info: settings an operator
changes at run time on the settings page (the environment holds the rest).
Which settings exist, their types, ranges and defaults are declared in code
(webapp/system/settings_catalog.py); this migration seeds the same defaults,
and a test checks that the two agree. `value` is jsonb so that a setting can
hold a number, a time or null ("not in the license").

`route_stat` counts answered requests per month, route template, status code
and error code (0: the answer carried none). Each process counts in memory and
adds its counts here every few seconds in one upsert
(webapp/system/route_stats.py), so no request waits for this table.
"""

from webapp.db import sql_migration

ID = "2026-11-28T00:04:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "settings and route statistics"

SEED_SQL = r"""
INSERT INTO setting (name, tags, value, description) VALUES
    ('ROUTE_STATS_RETENTION_MONTHS', '{statistics}', '24',
     'Months of route statistics kept, the current one included; older months are deleted.'),
    ('LICENSE_EXPIRATION_TIME', '{license}', 'null',
     'When the license expires (ISO 8601 with a zone); null: the license sets no expiration.'),
    ('LICENSE_FACES_LIMIT', '{license}', 'null',
     'Faces the license allows; null: not in the license.'),
    ('LICENSE_LIVENESS', '{license}', 'null',
     'Liveness version the license allows (0: none, 1 or 2); null: not in the license.'),
    ('LICENSE_LIVENESS_BALANCE', '{license}', 'null',
     'Liveness checks left on the license; null: not in the license.'),
    ('LICENSE_STREAMS_LIMIT', '{license}', 'null',
     'Video streams the license allows; null: not in the license.'),
    ('LICENSE_ANALYTICS_STREAMS_LIMIT', '{license}', 'null',
     'Video analytics streams the license allows; null: not in the license.'),
    ('LICENSE_ISO', '{license}', 'null',
     'ISO image checks: 1 licensed, 0 not; null: not in the license.'),
    ('LICENSE_BODY_ATTRIBUTES', '{license}', 'null',
     'Body attributes estimation: 1 licensed, 0 not; null: not in the license.'),
    ('LICENSE_INDEX', '{license}', 'null',
     'Index (fast matching) module: 1 licensed, 0 not; null: not in the license.'),
    ('LICENSE_PEOPLE_COUNTER', '{license}', 'null',
     'People counter: 1 licensed, 0 not; null: not in the license.'),
    ('LICENSE_LAMBDAS', '{license}', 'null',
     'Lambdas the license allows; null: not in the license.'),
    ('LICENSE_DEEPFAKE', '{license}', 'null',
     'Deepfake detection: 1 licensed, 0 not; null: not in the license.');
"""
"""The defaults, as the catalogue in webapp/system/settings_catalog.py declares them
(tests/integration/test_settings_page.py runs this and compares)."""

SQL = (
    r"""
CREATE TABLE setting (
    id serial PRIMARY KEY,
    name varchar(64) NOT NULL UNIQUE CHECK (name ~ '^[A-Z][A-Z0-9_]*$'),
    tags text[] NOT NULL DEFAULT '{}',
    -- a JSON value; the JSON null is a value too ("not in the license")
    value jsonb NOT NULL,
    description text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    last_update_time timestamptz NOT NULL DEFAULT now(),
    -- whether value is the default declared in code
    is_default boolean NOT NULL DEFAULT true
);

CREATE TABLE route_stat (
    -- the first day of the month (UTC)
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    -- 'METHOD:/path/{template}', or 'METHOD:<unmatched>' for paths no route has
    route varchar(300) NOT NULL,
    status_code smallint NOT NULL,
    -- 0: the answer carried no error code
    error_code integer NOT NULL DEFAULT 0,
    count bigint NOT NULL CHECK (count > 0),
    PRIMARY KEY (month, route, status_code, error_code)
);
"""
    + SEED_SQL
)


forwards = sql_migration(ID, DESCRIPTION, SQL)
