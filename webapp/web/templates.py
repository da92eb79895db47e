"""The Jinja environment shared by every page: globals for static files,
navigation and time formatting."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import pass_context
from litestar.plugins.jinja import JinjaTemplateEngine

from webapp import __version__
from webapp.accounts.default_password import SCOPE_KEY as DEFAULT_PASSWORD_SCOPE_KEY
from webapp.accounts.service import DEFAULT_ADMIN_LOGIN
from webapp.schedules.zones import zone
from webapp.settings import ROOT, Settings
from webapp.tasks.states import STATUS_NAMES, TYPE_NAMES, outcome
from webapp.web.errors import LunaError


@lru_cache(maxsize=256)
def _static_version(path: str) -> str:
    try:
        return hashlib.sha256((ROOT / "static" / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return __version__


def static_url(path: str) -> str:
    """A URL that changes with the file, so browsers may cache it for long."""
    return f"/static/{path}?v={_static_version(path)}"


@pass_context
def default_password_account(context: Any) -> Any:
    """The default admin's id while its password is the default (for the banner), or None;
    found by webapp/accounts/default_password.py `note_for_page`."""
    request = context.get("request")
    return None if request is None else request.scope.get(DEFAULT_PASSWORD_SCOPE_KEY)


@pass_context
def principal(context: Any) -> Any:
    request = context.get("request")
    return None if request is None else request.scope.get("user")


def short_time(value: str | None) -> str:
    """'2026-11-28T05:08:36.123Z' -> '2026-11-28 05:08:36 UTC' for tables."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def zone_time(value: str | None, zone_name: str | None) -> str:
    """An ISO time on the clock of a schedule's zone: 'Mon 2026-11-30 04:05 CET'."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value).astimezone(zone(zone_name or "utc"))
    except (ValueError, LunaError):
        return short_time(value)
    return moment.strftime("%a %Y-%m-%d %H:%M %Z")


def number(value: int | float | None) -> str:
    """Every count on every page: 1,234,567 (a rate: 1,234.5)."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def duration(seconds: float | None) -> str:
    """4 s, 3 min 20 s, 2 h 05 min, 3 d 4 h: as precise as an operator needs."""
    if seconds is None:
        return "—"
    whole = max(round(seconds), 0)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def configure_templates(settings: Settings) -> JinjaTemplateEngine:
    engine = JinjaTemplateEngine(directory=ROOT / "templates")
    env = engine.engine
    env.globals.update(
        static_url=static_url,
        principal=principal,
        default_password_account=default_password_account,
        default_admin_login=DEFAULT_ADMIN_LOGIN,
        api_prefix=settings.api_prefix,
        version=__version__,
        task_types=TYPE_NAMES,
        statuses=STATUS_NAMES,
        task_outcome=outcome,
    )
    env.filters["short_time"] = short_time
    env.filters["number"] = number
    env.filters["duration"] = duration
    env.filters["zone_time"] = zone_time
    env.trim_blocks = True
    env.lstrip_blocks = True
    return engine
