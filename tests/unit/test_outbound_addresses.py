"""Which hosts outbound requests may reach (webapp/outbound/addresses.py)."""

from __future__ import annotations

import ipaddress
import re

import pytest

from webapp.outbound.addresses import (
    AddressRefused,
    AllowedNetworks,
    check_host,
    ipv4_any_form,
    literal_address,
    refusal,
)

NOTHING = AllowedNetworks()


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("169.254.43518", "169.254.169.254"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%25eth0", "fe80::1"),
    ],
)
def test_every_spelling_of_an_address_is_read_as_the_resolver_reads_it(host, address):
    assert literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host", ["example.com", "1.2.3.4.5", "256.1.1.1", "08.1.1.1", "0x1g", "4294967296", "a.b"]
)
def test_names_are_not_addresses(host):
    assert literal_address(host) is None


def test_the_last_part_fills_the_remaining_bytes():
    assert ipv4_any_form("10.65535") == ipaddress.ip_address("10.0.255.255")
    assert ipv4_any_form("10.65536") == ipaddress.ip_address("10.1.0.0")
    assert ipv4_any_form("10.16777216") is None
    assert ipv4_any_form("10.1.65536") is None


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved (documentation)"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::169.254.169.254", "link-local"),
        ("fc00::1", "private (unique local)"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("2001:db8::1", "reserved (documentation)"),
        ("2002:7f00:1::", "reserved (6to4)"),
        ("4000::1", "reserved"),
    ],
)
def test_inside_and_reserved_addresses_are_refused(address, kind):
    assert refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_global_addresses_are_reached(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST.", "api.localhost", "ip6-localhost", "localhost.localdomain"]
)
def test_localhost_names_are_refused_without_resolving(host):
    with pytest.raises(AddressRefused, match="loopback"):
        check_host(host, NOTHING)


def test_allowed_networks_open_exactly_what_they_name():
    allowed = AllowedNetworks.parse("10.1.0.0/16, 127.0.0.1/32, fd00::/8")
    assert check_host("10.1.2.3", allowed) == ipaddress.ip_address("10.1.2.3")
    assert check_host("[::ffff:127.0.0.1]", allowed) is not None  # mapped: its IPv4 counts
    assert check_host("localhost", allowed) is None  # a name: resolved at delivery
    with pytest.raises(AddressRefused):
        check_host("10.2.0.1", allowed)
    with pytest.raises(AddressRefused):
        check_host("127.0.0.2", allowed)


def test_a_bad_network_is_named():
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        AllowedNetworks.parse("10.0.0.0/8,10.0.0.0/33")
    assert AllowedNetworks.parse(" , ").networks == ()
