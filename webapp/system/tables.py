"""The settings table. The schema is the SQL migration
piccolo_migrations/luna_admin_2026_11_28t0004_settings_and_stats.py; this mirrors it.

`route_stat` has no mirror: its primary key is four columns, and a Piccolo table
without a one-column primary key gets an `id` column the table does not have.
It is read and written with SQL only (webapp/system/route_stats.py).
"""

from piccolo.columns import JSONB, Array, Boolean, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class Setting(Table, tablename="setting"):
    id = Serial(primary_key=True)
    name = Varchar(length=64, unique=True)
    tags = Array(base_column=Text())
    value = JSONB()
    description = Text()
    create_time = Timestamptz()
    last_update_time = Timestamptz()
    is_default = Boolean(default=True)
