"""Versions of the service and of what it runs on, for the version page and
`services_versions` of GET /{api}/luna_sys_info.

Everything here is read once per process: the installed packages do not change
while it runs, and the PostgreSQL server's version is asked once (`SHOW
server_version`) and kept; a failed attempt is not kept, the next one retries.
"""

from __future__ import annotations

import platform
import re
from functools import cache
from importlib import metadata
from typing import Any

from webapp import __version__, db

SERVICE = "luna-admin"

COMPONENTS: tuple[tuple[str, str], ...] = (
    ("Litestar", "litestar"),
    ("Piccolo", "piccolo"),
    ("asyncpg", "asyncpg"),
    ("APScheduler", "APScheduler"),
)
"""(name shown, distribution name) of the libraries reported beside Python."""


def numbers(version: str) -> dict[str, int]:
    """'16.4 (Debian 16.4-1)' -> {major: 16, minor: 4, patch: 0}: the leading numbers."""
    found = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    parts = [int(part) if part else 0 for part in found.groups()] if found else [0, 0, 0]
    return {"major": parts[0], "minor": parts[1], "patch": parts[2]}


def service_version(api_version: int) -> dict[str, int]:
    """`Version` of GET /version: the API version and this service's own."""
    return {"api": api_version, **numbers(__version__)}


@cache
def library_versions() -> tuple[tuple[str, str], ...]:
    """(name, version) of Python and the libraries, as installed."""
    found = [("Python", platform.python_version())]
    for shown, distribution in COMPONENTS:
        try:
            found.append((shown, metadata.version(distribution)))
        except metadata.PackageNotFoundError:
            found.append((shown, "not installed"))
    return tuple(found)


_postgres: list[str] = []
"""The server version once known (a list, so no `global` statement is needed)."""


async def postgres_version() -> str | None:
    """The PostgreSQL server's version ('16.4 (Debian 16.4-1.pgdg120+1)'), or None
    when the database cannot be asked right now."""
    if not _postgres:
        try:
            row = await db.fetchrow("SHOW server_version")
        except Exception:
            return None
        if row is None:
            return None
        _postgres.append(str(row["server_version"]))
    return _postgres[0]


async def component_versions() -> list[dict[str, str]]:
    """[{name, version}] of Python, the libraries and the PostgreSQL server."""
    found = [{"name": name, "version": version} for name, version in library_versions()]
    server = await postgres_version()
    found.append({"name": "PostgreSQL", "version": server or "unavailable"})
    return found


async def services_versions(api_version: int) -> dict[str, Any]:
    """`services_versions` of luna_sys_info: this service as the reference shows a
    service ({api, major, minor, patch}), then each component as {major, minor,
    patch, version} (`version` is the full string, since '16.4 (Debian ...)' does
    not fit three numbers)."""
    result: dict[str, Any] = {SERVICE: service_version(api_version)}
    for component in await component_versions():
        result[component["name"]] = {
            **numbers(component["version"]),
            "version": component["version"],
        }
    return result
