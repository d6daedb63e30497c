"""Who the client is behind trusted proxies: `X-Forwarded-For` and `Forwarded` (RFC 7239)."""

from __future__ import annotations

import ipaddress

import pytest

from llmrelay.wire.forwarded import (
    TrustedProxies,
    client_address,
    parse_node,
    parse_trusted_proxies,
)

PROXIES = TrustedProxies(["10.0.0.0/8", "fd00::/8"])
LB = "10.0.0.2"
"""The load balancer: the socket peer of every proxied request here."""


def xff(*values: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode()) for value in values]


def fwd(*values: str) -> list[tuple[bytes, bytes]]:
    return [(b"forwarded", value.encode()) for value in values]


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7, 10.0.0.5", "203.0.113.7"),  # through a second, trusted proxy
        ("1.1.1.1, 203.0.113.7", "203.0.113.7"),  # the client's own entry is not believed
        ("1.1.1.1, 203.0.113.7, 10.0.0.9, 10.0.0.5", "203.0.113.7"),
        ("10.0.0.7, 10.0.0.5", "10.0.0.7"),  # every hop trusted: the left-most
        ("203.0.113.7,10.0.0.5", "203.0.113.7"),  # no space after the comma
        ("203.0.113.7:5123", "203.0.113.7"),  # with a port, as some balancers write it
        ("2001:db8::7", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8::7, fd00::3", "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: the IPv4 address
    ],
)
def test_x_forwarded_for_gives_the_right_most_untrusted_address(chain: str, client: str) -> None:
    assert PROXIES.resolve(LB, xff(chain)) == client


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("bogus", LB),  # the proxy's entry is garbage: the proxy itself
        ("203.0.113.7, bogus, 10.0.0.5", "10.0.0.5"),  # stop at garbage: the last good
        ("203.0.113.7, 10.0.0.5, ", LB),  # an empty entry is garbage too
        ("203.0.113.7, 1.2.3.4.5", LB),
        ("203.0.113.7, 203.0.113.8:", LB),  # a colon and no port
        ("203.0.113.7, 203.0.113.8:http", LB),
        ("[2001:db8::7", LB),
        ("[2001:db8::7]443", LB),
        ("", LB),
    ],
)
def test_garbage_in_the_chain_ends_the_walk_at_the_last_good_address(
    chain: str, client: str
) -> None:
    assert PROXIES.resolve(LB, xff(chain)) == client


def test_header_lines_are_one_list_in_order() -> None:
    assert PROXIES.resolve(LB, xff("1.1.1.1, 203.0.113.7", "10.0.0.5")) == "203.0.113.7"
    assert PROXIES.resolve(LB, xff("203.0.113.7", "198.51.100.1")) == "198.51.100.1"


def test_an_untrusted_peer_cannot_spoof_its_address() -> None:
    """A client connecting directly says it is an allowed address: it is not believed."""
    spoofed = xff("10.0.0.1") + fwd("for=10.0.0.1")
    assert PROXIES.resolve("198.51.100.9", spoofed) == "198.51.100.9"
    assert PROXIES.resolve("2001:db8::9", spoofed) == "2001:db8::9"
    assert PROXIES.resolve("not an address", spoofed) == "not an address"


def test_a_trusted_peer_without_headers_is_the_client() -> None:
    assert PROXIES.resolve(LB, [(b"host", b"relay")]) == LB
    assert PROXIES.resolve("::ffff:10.0.0.2", xff("203.0.113.7")) == "203.0.113.7"


@pytest.mark.parametrize(
    ("header", "client"),
    [
        ("for=203.0.113.7", "203.0.113.7"),
        ('for="203.0.113.7"', "203.0.113.7"),
        ("For=203.0.113.7", "203.0.113.7"),  # parameter names are case-insensitive
        # RFC 7239 §4's examples: several elements, several parameters, quoted IPv6 and port
        ('for="_gazonk"', LB),
        ('For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
        ("for=192.0.2.43, for=198.51.100.17", "198.51.100.17"),
        ("for=192.0.2.43, for=198.51.100.17;by=10.0.0.2, for=10.0.0.5", "198.51.100.17"),
        ("for=192.0.2.43 ; proto=https , for=10.0.0.5", "192.0.2.43"),
        ('for=192.0.2.43;host="a,b;c", for=10.0.0.5', "192.0.2.43"),  # quoted separators
        ('for="[fd00::5]"', "fd00::5"),  # every hop trusted: the left-most
        ("for=[2001:db8::7]:443", "2001:db8::7"),  # unquoted IPv6: read all the same
        # not addresses: the walk ends at the proxy that wrote them
        ("for=203.0.113.7, for=unknown", LB),
        ("for=203.0.113.7, for=_hidden", LB),
        ('for=203.0.113.7, for="_hidden:_port", for=10.0.0.5', "10.0.0.5"),
        ("for=203.0.113.7, proto=https", LB),  # an element without `for`
        ("for=203.0.113.7;for=198.51.100.1", LB),  # `for` twice in one element
        ('for="203.0.113.7', LB),  # an unterminated quoted string
        ("for=203.0.113.7 by=10.0.0.1", LB),  # no semicolon between pairs
        ("203.0.113.7", LB),  # X-Forwarded-For's syntax in the wrong header
        ('for="[2001:db8::7]:4711";proto=https, for=garbage', LB),
    ],
)
def test_forwarded_elements_right_to_left(header: str, client: str) -> None:
    assert PROXIES.resolve(LB, fwd(header)) == client


def test_both_headers_are_believed_only_when_they_agree() -> None:
    """A proxy that writes one header passes a client's forged other one along: when they
    name different clients the relay cannot tell which is the proxy's, so it uses neither."""
    agree = xff("203.0.113.7") + fwd("for=203.0.113.7")
    assert PROXIES.resolve(LB, agree) == "203.0.113.7"
    forged = xff("203.0.113.7") + fwd("for=10.9.9.9")
    assert PROXIES.resolve(LB, forged) == LB


def test_without_trusted_proxies_the_socket_peer_is_the_client_and_no_header_is_read() -> None:
    assert parse_trusted_proxies([]) is None

    class Unreadable(list):
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("the headers were read")

    scope = {"client": ("198.51.100.9", 50000), "headers": Unreadable()}
    assert client_address(scope, None) == "198.51.100.9"
    assert client_address({"headers": []}, None) is None  # a Unix socket: no peer address


def test_client_address_reads_the_scope_through_the_proxies() -> None:
    proxies = parse_trusted_proxies(["127.0.0.1/32"])
    scope = {"client": ("127.0.0.1", 50000), "headers": xff("203.0.113.7")}
    assert client_address(scope, proxies) == "203.0.113.7"
    assert client_address({"client": None, "headers": xff("203.0.113.7")}, proxies) is None


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:8080", "192.0.2.1"),
        ("192.0.2.1:_obf", "192.0.2.1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("unknown", None),
        ("_obfuscated", None),
        ("192.0.2.1:123456", None),
        ("192.0.2", None),
        ("[192.0.2.1:80", None),
        ("example.com", None),
    ],
)
def test_parse_node(text: str, address: str | None) -> None:
    parsed = parse_node(text)
    assert parsed == (ipaddress.ip_address(address) if address else None)
