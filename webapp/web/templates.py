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
from webapp.schedules.triggers import zone
from webapp.settings import ROOT, Settings
from webapp.tasks.states import STATUS_NAMES, TYPE_NAMES
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


def configure_templates(settings: Settings) -> JinjaTemplateEngine:
    engine = JinjaTemplateEngine(directory=ROOT / "templates")
    env = engine.engine
    env.globals.update(
        static_url=static_url,
        principal=principal,
        api_prefix=settings.api_prefix,
        version=__version__,
        task_types=TYPE_NAMES,
        statuses=STATUS_NAMES,
    )
    env.filters["short_time"] = short_time
    env.filters["zone_time"] = zone_time
    env.trim_blocks = True
    env.lstrip_blocks = True
    return engine
