"""The effective settings as `GET /config` shows them: by environment variable,
grouped, secrets masked.

Masked (`********`): every setting whose name says it is a secret (SECRET,
PASSWORD, TOKEN, a name ending in _KEY) and the password inside any URL
(`postgresql://luna:********@db:5432/luna_admin`, also `?password=` in the
query). Booleans are 0/1, as the reference shows them.

Built from the Settings dataclass itself, so a setting added later appears
(under OTHER until it is given a group here) rather than silently missing.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from webapp.settings import Settings

MASK = "********"

# field name -> (group, environment variable). Order is the order shown.
LAYOUT: dict[str, tuple[str, str]] = {
    "database_url": ("DATABASE", "DATABASE_URL"),
    "db_pool_size": ("DATABASE", "DB_POOL_SIZE"),
    "host": ("SERVER", "HOST"),
    "port": ("SERVER", "PORT"),
    "api_version": ("SERVER", "API_VERSION"),
    "production": ("SERVER", "LUNA_ADMIN_ENV"),
    "var_dir": ("SERVER", "LUNA_ADMIN_VAR_DIR"),
    "log_level": ("LOGGING", "LOG_LEVEL"),
    "log_format": ("LOGGING", "LOG_FORMAT"),
    "secret_key": ("SECURITY", "SECRET_KEY"),
    "secret_key_from_env": ("SECURITY", "SECRET_KEY_FROM_ENV"),
    "session_lifetime": ("SECURITY", "SESSION_LIFETIME"),
    "cookie_secure": ("SECURITY", "COOKIE_SECURE"),
    "login_max_failures": ("SECURITY", "LOGIN_MAX_FAILURES"),
    "login_failure_window": ("SECURITY", "LOGIN_FAILURE_WINDOW"),
    "credential_cache_ttl": ("SECURITY", "CREDENTIAL_CACHE_TTL"),
    "login_max_delay": ("SECURITY", "LOGIN_MAX_DELAY"),
    "trusted_proxies": ("SECURITY", "TRUSTED_PROXIES"),
    "request_read_timeout": ("SECURITY", "REQUEST_READ_TIMEOUT"),
    "workers_in_process": ("TASKS", "WORKERS_IN_PROCESS"),
    "worker_heartbeat_seconds": ("TASKS", "WORKER_HEARTBEAT_SECONDS"),
    "worker_dead_after_seconds": ("TASKS", "WORKER_DEAD_AFTER_SECONDS"),
    "gc_batch_size": ("TASKS", "GC_BATCH_SIZE"),
    "subtask_size": ("TASKS", "SUBTASK_SIZE"),
    "extraction_batch_size": ("EXTRACTION", "EXTRACTION_BATCH_SIZE"),
    "extraction_backend": ("EXTRACTION", "EXTRACTION_BACKEND"),
    "telegram_api_url": ("NOTIFICATIONS", "TELEGRAM_API_URL"),
    "notify_max_attempts": ("NOTIFICATIONS", "NOTIFY_MAX_ATTEMPTS"),
    "notify_backoff_seconds": ("NOTIFICATIONS", "NOTIFY_BACKOFF_SECONDS"),
    "scheduler_enabled": ("SCHEDULES", "SCHEDULER_ENABLED"),
    "audit_retention_days": ("AUDIT", "AUDIT_RETENTION_DAYS"),
}
OTHER = "OTHER"

SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|_KEY$")
"""Names whose (text) value is a secret. SECRET_KEY_FROM_ENV is a 0/1 and stays."""
URL_PASSWORD_PARAMS = {"password", "passwd", "token", "secret"}
DSN_PASSWORD = re.compile(r"\b(password|passwd)(\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
"""`password=...` in a libpq key/value string (host=db password=x dbname=luna)."""


def mask_url(value: str) -> str:
    """`value` with the password of its user info and secret query parameters masked;
    unchanged when it is not a URL or holds none."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc:
        return DSN_PASSWORD.sub(lambda m: f"{m[1]}{m[2]}{MASK}", value)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in URL_PASSWORD_PARAMS for key, _ in pairs):
            query = urlencode(
                [(k, MASK if k.lower() in URL_PASSWORD_PARAMS else v) for k, v in pairs],
                safe="*/",
            )
    if netloc == parts.netloc and query == parts.query:
        return value
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def shown_value(name: str, value: Any) -> Any:
    """The value as /config shows it: masked if secret, 0/1 for booleans."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, tuple):  # TRUSTED_PROXIES: networks, as the setting is written
        value = ",".join(str(item) for item in value)
    if isinstance(value, str):
        if value and SECRET_NAME.search(name):
            return MASK
        return mask_url(value)
    return value


def _raw(settings: Settings, field: str) -> Any:
    value = getattr(settings, field)
    if field == "production":
        return "production" if value else "development"
    return value


def place(field: str) -> tuple[str, str]:
    """(group, environment variable) of a Settings field."""
    return LAYOUT.get(field, (OTHER, field.upper()))


def grouped(settings: Settings) -> dict[str, dict[str, Any]]:
    """`{"GROUP": {"ENV_NAME": value}}`, every field of Settings, secrets masked."""
    groups: dict[str, dict[str, Any]] = {}
    fields = [f.name for f in dataclasses.fields(settings)]
    ordered = [f for f in LAYOUT if f in fields] + [f for f in fields if f not in LAYOUT]
    for field in ordered:
        group, env_name = place(field)
        groups.setdefault(group, {})[env_name] = shown_value(env_name, _raw(settings, field))
    return groups


def as_text(groups: dict[str, dict[str, Any]]) -> str:
    """One `NAME = value` line per setting, in group order."""
    lines = [f"{name} = {value}" for values in groups.values() for name, value in values.items()]
    return "\n".join(lines) + "\n"
