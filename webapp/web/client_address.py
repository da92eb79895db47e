"""Who the client is: the one place that decides a request's address (and scheme).

Sign-in throttling, the audit log, sessions and the access log all read the
address this module decides, through `scope["client"]`, which LunaLitestar
rewrites once per request before anything else sees it.

The TCP peer is the client, unless the peer is one of the proxies named by the
setting TRUSTED_PROXIES (comma-separated addresses or CIDRs, default none).
Only then is `X-Forwarded-For` read: from the right, each trusted proxy is
skipped, and the first address that is not a trusted proxy is the client. A
value that is not an address ends the walk at the proxy that passed it on.
`X-Forwarded-Proto` (http or https) from a trusted proxy sets the scheme.
From anyone else both headers are ignored: a client cannot choose the address
the audit log records or the throttle counts. uvicorn's own proxy-header
handling (which trusts 127.0.0.1 by default) is switched off in `luna-admin
serve`, so this is the only one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from webapp.networks import Network


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    def trusts(self, address: str) -> bool:
        if not self.networks:
            return False
        parsed = _address(address)
        return parsed is not None and any(parsed in network for network in self.networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
    return mapped or parsed


def _header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every comma-separated item of every `name` header line, in order."""
    items: list[str] = []
    for key, value in headers:
        if key == name:
            items.extend(value.decode("latin-1").split(","))
    return items


def client_of(scope: dict[str, Any], proxies: TrustedProxies) -> tuple[str, str]:
    """(client address, scheme) of a request; the peer's own when it is not trusted."""
    peer = scope.get("client")
    host = str(peer[0]) if peer else ""
    scheme = str(scope.get("scheme") or "http")
    if not proxies.trusts(host):
        return host, scheme
    headers = scope.get("headers", ())
    for hop in reversed(_header_values(headers, b"x-forwarded-for")):
        parsed = _address(hop)
        if parsed is None:
            break  # garbage from the hop before: the last trusted proxy is what we know
        host = str(parsed)
        if not proxies.trusts(host):
            break
    forwarded_proto = _header_values(headers, b"x-forwarded-proto")
    if forwarded_proto and forwarded_proto[-1].strip().lower() in {"http", "https"}:
        scheme = forwarded_proto[-1].strip().lower()
    return host, scheme


def apply_client(scope: dict[str, Any], proxies: TrustedProxies) -> str:
    """Rewrite the scope's client (and scheme) to what `client_of` decides; return it."""
    peer = scope.get("client")
    if not proxies.networks:  # the default: nothing to rewrite, nothing to pay
        return str(peer[0]) if peer else ""
    host, scheme = client_of(scope, proxies)
    scope["client"] = (host, peer[1] if peer else 0)
    scope["scheme"] = scheme
    return host
