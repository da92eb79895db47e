"""The plugin registry behind `GET /plugins`.

A plugin is a replaceable part of the service: an extraction backend, a kind
of notifier. Its module registers it once, at import, with a probe that says
whether it is usable now in this process:

    from webapp.system.plugins import register
    register("telegram_callbacks", "notifier", lambda settings: bool(settings.telegram_api_url))

The registry only knows the plugins whose modules were imported, so the list
answer first imports every module of PLUGIN_MODULES (a no-op once loaded).
This module imports nothing of the service, so any module may register.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webapp.settings import Settings

log = logging.getLogger(__name__)

Probe = Callable[["Settings"], bool]
"""True when the plugin is usable with these settings (cheap: called per request)."""

PLUGIN_MODULES = ("webapp.extraction", "webapp.notify.senders")
"""Modules that register plugins; imported before the registry is listed."""


@dataclass(frozen=True)
class Plugin:
    name: str
    kind: str
    """extraction or notifier (free text: the registry does not restrict it)."""
    probe: Probe


_REGISTRY: dict[str, Plugin] = {}


def register(name: str, kind: str, probe: Probe) -> None:
    """Add a plugin (or replace the one of that name: a module imported twice)."""
    _REGISTRY[name] = Plugin(name, kind, probe)


def load_all() -> None:
    for module in PLUGIN_MODULES:
        importlib.import_module(module)


def is_running(plugin: Plugin, settings: Settings) -> bool:
    try:
        return bool(plugin.probe(settings))
    except Exception:
        # A probe that fails says the plugin is not usable; it must not fail the list.
        log.exception("plugin %s: probe failed", plugin.name)
        return False


def listing(settings: Settings) -> list[dict[str, Any]]:
    """`[{"name", "running"}]` sorted by name; running is 1 or 0 as the reference shows."""
    load_all()
    return [
        {"name": plugin.name, "running": int(is_running(plugin, settings))}
        for plugin in sorted(_REGISTRY.values(), key=lambda p: p.name)
    ]


def kinds() -> dict[str, str]:
    """Plugin name -> kind, for the page."""
    load_all()
    return {plugin.name: plugin.kind for plugin in _REGISTRY.values()}
