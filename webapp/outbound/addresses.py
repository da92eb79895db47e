"""Which addresses an outbound request may reach, and what a host names.

The rule (ROUTES.md "Outbound requests", docs/security.md): callbacks, the
Telegram Bot API and the health check of outside services never reach an
address of the networks in REFUSED_NETWORKS (loopback, private, link-local,
multicast, unspecified, reserved, CGNAT, documentation...), nor one that
Python's `ipaddress` calls non-global, unless an operator allowed its network
with CALLBACK_ALLOWED_NETWORKS. The table is written out rather than taken
from `ipaddress` alone because those categories changed between Python
releases (3.11.7 calls 224.0.0.1 global) and the rule must not.

A host is read the way the resolver of the machine would read it, so that no
spelling slips through: `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1` and `0`
are IPv4 addresses (inet_aton's forms), a trailing dot changes nothing,
`[::ffff:127.0.0.1]` is 127.0.0.1, a zone id (`%eth0`) is ignored, and
`localhost` and every `*.localhost` name are loopback by definition (RFC 6761).
Nothing here resolves names: webapp/outbound/client.py does, at delivery.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from webapp.networks import Network, parse_networks

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = Network


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in pairs)


REFUSED_NETWORKS = _nets(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
    ("192.0.2.0/24", "reserved (documentation)"),
    ("192.88.99.0/24", "reserved (6to4 relay)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved (benchmarking)"),
    ("198.51.100.0/24", "reserved (documentation)"),
    ("203.0.113.0/24", "reserved (documentation)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "reserved (IPv4-compatible)"),
    ("64:ff9b:1::/48", "reserved (local NAT64)"),
    ("100::/64", "reserved (discard-only)"),
    ("2001::/23", "reserved (IETF protocol assignments)"),
    ("2001:db8::/32", "reserved (documentation)"),
    ("2002::/16", "reserved (6to4)"),
    ("3fff::/20", "reserved (documentation)"),
    ("5f00::/16", "reserved (SRv6)"),
    ("fc00::/7", "private (unique local)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "reserved (site-local)"),
    ("ff00::/8", "multicast"),
)
"""(network, what it is): never reached unless CALLBACK_ALLOWED_NETWORKS allows it."""

_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

LOCALHOST_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "ip6-localnet"}
)
"""Names every Debian /etc/hosts (and RFC 6761) points at loopback."""


class AddressRefused(Exception):
    """An outbound request would reach an address (or name) it may not; the message says
    which and why, and never holds a secret (only a host and an address)."""


@dataclass(frozen=True)
class AllowedNetworks:
    """CALLBACK_ALLOWED_NETWORKS: the networks an operator opened on purpose."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowedNetworks:
        """`"10.1.0.0/16, 127.0.0.1/32"`; ValueError naming the entry that is not a CIDR."""
        return cls(parse_networks(text))

    def __str__(self) -> str:
        return ",".join(str(net) for net in self.networks)

    def allows(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


def _ipv4_part(text: str) -> int | None:
    """One part of an inet_aton address: decimal, 0x hex or 0-prefixed octal."""
    if text[:2].lower() == "0x":
        digits, base = text[2:], 16
    elif len(text) > 1 and text[0] == "0":
        digits, base = text[1:], 8
    else:
        digits, base = text, 10
    if digits == "":
        return 0 if base == 16 else None  # glibc reads "0x" as 0
    try:
        return int(digits, base) if digits.isalnum() and digits.isascii() else None
    except ValueError:
        return None


def ipv4_any_form(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address `host` spells in any form inet_aton accepts, else None.

    `127.1` is 127.0.0.1 (the last part fills the remaining bytes), `2130706433`
    and `0x7f000001` too, `0177.0.0.1` is octal.
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or any(part == "" for part in parts):
        return None
    values = [_ipv4_part(part) for part in parts]
    if any(value is None for value in values):
        return None
    numbers = [value for value in values if value is not None]
    *leading, last = numbers
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> IPAddress | None:
    """The address `host` is a literal of (any spelling), or None for a name."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return ipv4_any_form(text.rstrip("."))


def is_localhost_name(host: str) -> bool:
    name = host.strip().rstrip(".").lower()
    return name in LOCALHOST_NAMES or name.endswith(".localhost")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and is routed to (mapped, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """What kind of address this is when it may not be reached ("loopback"...), else None.

    Allowed networks are not consulted here (see `check_address`)."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return refusal(inner)
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(int(address))  # fe80::1%eth0 is fe80::1
    for network, why in REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            return why
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return "reserved"
    if not address.is_global:
        return "non-global"
    return None


def check_address(address: IPAddress, allowed: AllowedNetworks) -> None:
    """AddressRefused unless `address` may be reached."""
    why = refusal(address)
    if why is None:
        return
    inner = embedded_ipv4(address)
    if allowed.allows(address) or (inner is not None and allowed.allows(inner)):
        return
    raise AddressRefused(
        f"{address} ({why} address) may not be reached by outbound requests "
        "unless CALLBACK_ALLOWED_NETWORKS allows its network"
    )


def check_host(host: str, allowed: AllowedNetworks) -> IPAddress | None:
    """AddressRefused for a literal address that may not be reached or a localhost name;
    the literal address when `host` is one, None for a name (to be resolved and checked
    at delivery)."""
    address = literal_address(host)
    if address is not None:
        check_address(address, allowed)
        return address
    if is_localhost_name(host):
        loopback = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
        if not any(allowed.allows(a) for a in loopback):
            raise AddressRefused(
                f"{host} (this machine, loopback) may not be reached by outbound requests "
                "unless CALLBACK_ALLOWED_NETWORKS allows 127.0.0.0/8 or ::1/128"
            )
    return None


def check_addresses(host: str, addresses: Iterable[IPAddress], allowed: AllowedNetworks) -> None:
    """Every address a name resolved to must be allowed, or the name is refused."""
    for address in addresses:
        try:
            check_address(address, allowed)
        except AddressRefused as refused:
            raise AddressRefused(f"{host} resolves to {refused}") from None
