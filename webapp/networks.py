"""Lists of IP networks as settings write them (`"10.0.0.0/8, 192.0.2.7, ::1"`):
TRUSTED_PROXIES and CALLBACK_ALLOWED_NETWORKS. A leaf: it imports nothing of the
service."""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """The networks of a comma-separated list (a bare address is a /32 or /128);
    ValueError names the entry that is neither an address nor a CIDR network."""
    networks = []
    for item in text.split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
    return tuple(networks)
