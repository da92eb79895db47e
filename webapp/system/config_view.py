"""The effective settings as `GET /config` shows them: by environment variable,
grouped, secrets masked.

`/config` answers without credentials (as the reference shows it), so everything
that could be a secret is masked (`********`) by the service's one redaction
policy (webapp/redaction.py):

- a setting whose name means a secret (password, token, key, secret,
  credential, auth...), whatever its value;
- in any value, every URL's password (`postgresql://luna:********@db/luna`),
  every query parameter whose name means a secret (`?sslpassword=`,
  `?access_token=`, `?api_key=`), and a Telegram bot token in a path
  (`/bot********/`);
- in any value, libpq `key=value` pairs whose key means a secret
  (`host=db password=******** sslpassword=********`);
- the same inside lists (a setting holding several values).

Booleans are 0/1, as the reference shows them. Built from the Settings
dataclass itself, so a setting added later appears (under OTHER until it is
given a group here) rather than silently missing, and is masked by the same rule.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from webapp.redaction import MASK, is_secret_name, redact_text
from webapp.settings import Settings

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
    "session_idle_timeout": ("SECURITY", "SESSION_IDLE_TIMEOUT"),
    "cookie_secure": ("SECURITY", "COOKIE_SECURE"),
    "public_origins": ("SECURITY", "PUBLIC_ORIGINS"),
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
    "callback_allowed_networks": ("NOTIFICATIONS", "CALLBACK_ALLOWED_NETWORKS"),
    "notify_max_attempts": ("NOTIFICATIONS", "NOTIFY_MAX_ATTEMPTS"),
    "notify_backoff_seconds": ("NOTIFICATIONS", "NOTIFY_BACKOFF_SECONDS"),
    "scheduler_enabled": ("SCHEDULES", "SCHEDULER_ENABLED"),
    "audit_retention_days": ("AUDIT", "AUDIT_RETENTION_DAYS"),
}
OTHER = "OTHER"


def shown_value(name: str, value: Any) -> Any:
    """The value as /config shows it: masked if secret, 0/1 for booleans."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, tuple) and value and not isinstance(value[0], str):
        # TRUSTED_PROXIES: networks, written as the setting is (CALLBACK_ALLOWED_NETWORKS too)
        value = ",".join(str(item) for item in value)
    if isinstance(value, list | tuple):
        return [shown_value(name, item) for item in value]
    if isinstance(value, str):
        if value and is_secret_name(name):
            return MASK
        return redact_text(value)
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
