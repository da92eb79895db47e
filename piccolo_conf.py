"""Piccolo's configuration: the engine and the one app whose migrations we run.

`piccolo migrations ...` and the `luna-admin` command both read this module.
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from webapp.settings import database_url_from_env

# extensions=(): the schema needs none, and creating one would need a superuser.
DB = PostgresEngine(config={"dsn": database_url_from_env()}, extensions=())

APP_REGISTRY = AppRegistry(apps=["webapp.piccolo_app"])
