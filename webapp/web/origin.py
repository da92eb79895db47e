"""Cross-site requests are refused by their origin (ROUTES.md "Cross-site requests").

A browser says where a request comes from: `Sec-Fetch-Site` (every current
browser) and `Origin` (on every POST, PUT, PATCH and DELETE). A request that
changes something, and the sign-in form, is refused with 403 when either names
another site: `Sec-Fetch-Site` other than `same-origin` or `none` (`same-site`
included: another port of the same host is same-site, not same-origin), or an
`Origin` that is not the service's own. A request with neither header is not a
browser's and passes; it must authenticate like any other. This replaces
tokens: nothing to fetch first, nothing a reference-only client has to know.

The service's own origin is the one the request was sent to, as the server sees
it: the ASGI scheme (http, or https when uvicorn takes X-Forwarded-Proto from a
trusted proxy) and the Host header, default ports dropped. A browser cannot
forge Host; a page that rebinds its own name to this server (DNS rebinding)
gets Host and Origin to agree, but its requests carry no cookie and no cached
Basic credentials of this service, since both belong to the service's real
name. Behind a proxy that changes the scheme (TLS ends at the proxy) or the
Host, set PUBLIC_ORIGINS to the origins browsers use: then only those count,
and the Host header is not consulted at all.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from webapp.settings import normalise_origin as normalise
from webapp.web.errors import LunaError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_VALUES = frozenset({"same-origin", "none"})
"""`Sec-Fetch-Site` values of a request the page of this very origin (or the
user, typing the address) made."""


def request_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The origin the request was sent to: its scheme and Host header (or, without
    a Host header, the address the server accepted it on)."""
    scope = connection.scope
    scheme = str(scope.get("scheme") or "http")
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    host = connection.headers.get("host")
    if not host:
        server = scope.get("server")
        if not server:
            return None
        name, port = server
        host = f"[{name}]:{port}" if ":" in str(name) else f"{name}:{port}"
    return normalise(f"{scheme}://{host}")


def own_origins(connection: ASGIConnection[Any, Any, Any, Any]) -> frozenset[str]:
    configured: tuple[str, ...] = connection.app.state.settings.public_origins
    if configured:
        return frozenset(configured)
    derived = request_origin(connection)
    return frozenset({derived}) if derived else frozenset()


def refuse_cross_site(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """403 CROSS_SITE_REFUSED for a request that changes something and that a
    browser says comes from another site; nothing for safe methods or for
    requests without `Sec-Fetch-Site` and `Origin`."""
    if connection.scope.get("method") in SAFE_METHODS:
        return
    site = connection.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in SAME_SITE_VALUES:
        raise LunaError("CROSS_SITE_REFUSED", reason=f"Sec-Fetch-Site is '{site[:40]}'")
    origin = connection.headers.get("origin")
    if origin is None:
        return
    own = own_origins(connection)
    if normalise(origin) not in own:
        shown = ", ".join(sorted(own)) or "unknown"
        raise LunaError(
            "CROSS_SITE_REFUSED",
            reason=f"Origin '{origin[:200]}' is not this service's origin ({shown})",
        )
