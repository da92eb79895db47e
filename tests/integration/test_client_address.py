"""The client address (docs/security.md, "Client addresses and proxies").

X-Forwarded-For is believed only from the proxies TRUSTED_PROXIES names (none by
default): nobody else can write an address into the audit log or step around
the per-address limits. The same address is the one the throttle counts, the
audit log records and the session keeps.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests import conftest
from tests.conftest import ADMIN, ADMIN_LOGIN, basic
from tests.integration.helpers import client_at
from webapp import db
from webapp.app import create_app
from webapp.settings import parse_networks
from webapp.web.client_address import TrustedProxies, client_of

WRONG = basic(ADMIN_LOGIN, "guess")


async def failed_sign_in_addresses() -> list[str]:
    rows = await db.fetch(
        "SELECT host(ip) AS ip FROM audit_event WHERE action = 'session.sign_in_failed' "
        "ORDER BY event_id"
    )
    return [row["ip"] for row in rows]


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(client, app):
    limit = app.state.settings.login_max_failures
    statuses = []
    for index in range(limit + 1):
        forged = {"X-Forwarded-For": f"198.51.100.{index}", "X-Real-IP": "198.51.100.99"}
        answer = await client.get("/4/accounts", headers={**WRONG, **forged})
        statuses.append(answer.status_code)
    # Each guess claimed another address; all were counted for the real one.
    assert statuses == [401] * limit + [429]
    assert await failed_sign_in_addresses() == ["127.0.0.1"] * limit


@contextlib.asynccontextmanager
async def behind_proxy(trusted: str, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(conftest.test_settings(trusted_proxies=parse_networks(trusted)))
    async with client_at(app, peer) as proxied:
        yield proxied


async def test_a_trusted_proxy_names_the_client(client):
    async with behind_proxy("127.0.0.1, 10.0.0.0/8", "127.0.0.1") as proxied:
        # The proxy appends the address it saw: the client is the rightmost untrusted one.
        forwarded = {"X-Forwarded-For": "192.0.2.66, 203.0.113.7, 10.1.2.3"}
        answer = await proxied.get("/4/accounts", headers={**WRONG, **forwarded})
        assert answer.status_code == 401
        signed_in = await proxied.post(
            "/4/login", headers={**ADMIN, "X-Forwarded-For": "203.0.113.8"}
        )
        assert signed_in.status_code == 201
    assert await failed_sign_in_addresses() == ["203.0.113.7"]
    session = await db.fetchrow("SELECT ip FROM auth_session")
    assert session is not None and session["ip"] == "203.0.113.8"


async def test_throttling_counts_the_forwarded_client(client):
    limit = conftest.test_settings().login_max_failures
    async with behind_proxy("127.0.0.1", "127.0.0.1") as proxied:
        guesser = {**WRONG, "X-Forwarded-For": "198.51.100.1"}
        statuses = [(await proxied.get("/4/accounts", headers=guesser)).status_code]
        statuses += [
            (await proxied.get("/4/accounts", headers=guesser)).status_code for _ in range(limit)
        ]
        assert statuses == [401] * limit + [429]
        # The proxy's other clients are not the guesser.
        owner = {**ADMIN, "X-Forwarded-For": "203.0.113.50"}
        assert (await proxied.get("/4/accounts", headers=owner)).status_code == 200


@pytest.mark.parametrize(
    ("peer", "forwarded", "client_address"),
    [
        ("10.0.0.2", "203.0.113.7", "10.0.0.2"),  # the peer is not a trusted proxy
        ("127.0.0.1", None, "127.0.0.1"),  # no header: the proxy itself
        ("127.0.0.1", "not-an-address", "127.0.0.1"),  # garbage: the proxy that passed it
        ("127.0.0.1", "203.0.113.7, junk", "127.0.0.1"),
        ("127.0.0.1", "[2001:db8::1]", "2001:db8::1"),
        ("127.0.0.1", "::ffff:192.0.2.1", "192.0.2.1"),
        ("127.0.0.1", "127.0.0.1, 127.0.0.1", "127.0.0.1"),  # only proxies: the leftmost
    ],
)
def test_the_client_address_rules(peer, forwarded, client_address):
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    scope = {"client": (peer, 1), "scheme": "http", "headers": headers}
    proxies = TrustedProxies(parse_networks("127.0.0.1"))
    assert client_of(scope, proxies)[0] == client_address


def test_forwarded_proto_is_read_from_trusted_proxies_only():
    headers = [(b"x-forwarded-proto", b"https")]
    proxies = TrustedProxies(parse_networks("127.0.0.0/8"))
    trusted = {"client": ("127.0.0.1", 1), "scheme": "http", "headers": headers}
    stranger = {"client": ("192.0.2.1", 1), "scheme": "http", "headers": headers}
    assert client_of(trusted, proxies)[1] == "https"
    assert client_of(stranger, proxies)[1] == "http"
    assert client_of(trusted, TrustedProxies())[1] == "http"


def test_a_bad_trusted_proxies_value_is_refused():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_networks("127.0.0.1, 10.0.0.300")
