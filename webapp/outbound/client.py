"""The HTTP client of every outbound request: checked where it connects.

`outbound_client(allowed)` is an httpx.AsyncClient whose connections are
opened by `GuardedBackend`: it reads the host (an address literal in any
spelling, a localhost name, or a name to resolve), resolves a name once,
refuses the connection unless *every* address is allowed
(webapp/outbound/addresses.py), and then connects to one of those very
addresses. The name is never resolved a second time, so DNS rebinding
between the check and the connection has nothing to rebind. TLS still
verifies the certificate against the name (httpcore passes the name as
server_hostname), and the pool keys connections by name.

Redirects are never followed, and the environment's proxy settings are
ignored (a proxy would make the connection for us, unchecked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from webapp.outbound.addresses import (
    AddressRefused,
    AllowedNetworks,
    IPAddress,
    check_addresses,
    check_host,
)

RESOLVE_TIMEOUT_SECONDS = 10.0
"""A resolver that does not answer is cut off (when the request has no timeout of its own)."""

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(name, port) -> the addresses the name resolves to, as text."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The machine's resolver (getaddrinfo, in a thread): /etc/hosts, DNS..."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, with the address check between resolving and connecting."""

    def __init__(
        self,
        allowed: AllowedNetworks,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allowed = allowed
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int, seconds: float | None) -> list[str]:
        """The addresses to connect to, all checked; AddressRefused if any may not be reached."""
        literal = check_host(host, self.allowed)
        if literal is not None:
            return [str(literal)]
        try:
            async with asyncio.timeout(seconds or RESOLVE_TIMEOUT_SECONDS):
                found = _unique(await self.resolver(host, port))
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not found:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        parsed: list[IPAddress] = [ipaddress.ip_address(text) for text in found]
        check_addresses(host, parsed, self.allowed)
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.addresses(host, port, timeout):
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # `addresses` returns at least one address or raises
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("outbound requests do not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that connects through GuardedBackend."""

    def __init__(self, allowed: AllowedNetworks, resolver: Resolver = system_resolver) -> None:
        super().__init__(trust_env=False)
        limits = httpx.Limits()
        # httpx has no parameter for the network backend: the pool it built is replaced
        # by the same pool with ours (httpx.AsyncHTTPTransport.__init__ builds it so).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowed, resolver),
        )


def outbound_client(
    allowed: AllowedNetworks, resolver: Resolver = system_resolver
) -> httpx.AsyncClient:
    """The client for callbacks, Telegram and health checks of outside services
    (`resolver` is the stand-in for DNS in tests)."""
    return httpx.AsyncClient(
        transport=GuardedTransport(allowed, resolver), follow_redirects=False, trust_env=False
    )


__all__ = ["AddressRefused", "GuardedBackend", "GuardedTransport", "outbound_client"]
