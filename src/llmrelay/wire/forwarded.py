"""Who the client is: the socket peer, or, behind `server.trusted_proxies`, the address the
proxies forwarded in `X-Forwarded-For` or `Forwarded` (RFC 7239).

Each proxy appends the address it got the request from to the right of the chain, so only
the right end can be believed: everything left of the first hop that is not a trusted proxy
was written by that hop, the client itself, which may write anything there. The walk starts
at the socket peer and goes left while the hop is trusted; the first hop that is not trusted
is the client. A peer that is not trusted has its headers ignored; a chain of trusted hops
only gives its left-most; a hop that is not an address (garbage, RFC 7239's `unknown` or an
obfuscated `_name`) ends the walk at the last address read, the proxy that wrote it, since
whoever sits behind it cannot be checked.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_PAIR = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^;,"\s]*)\s*(;|$)')
"""One `name=value` of a `Forwarded` element (RFC 7239 §4): the value a token or a quoted
string. Unquoted IPv6 (which the RFC says to quote, and hand-written proxy settings forget)
is read too: it is parsed as an address all the same."""
_PORT = re.compile(r"[0-9]{1,5}|_[0-9A-Za-z._-]+")
"""RFC 7239 §6: `node-port = port / obfport`."""
_QUOTED_PAIR = re.compile(r"\\(.)")
MAX_NODE_CHARS = 64
"""Longer than any address with its port (`[IPv6 with embedded IPv4]:65535` is 53)."""


def client_address(scope: dict[str, Any], proxies: TrustedProxies | None) -> str | None:
    """The client's address, as every check of a key's `allowed_ips` reads it.

    Without trusted proxies it is the socket peer's, and no header is looked at."""
    client = scope.get("client")
    if client is None:
        return None
    if proxies is None:
        return client[0]
    return proxies.resolve(client[0], scope["headers"])


class TrustedProxies:
    """The networks of `server.trusted_proxies`, whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(text, strict=False) for text in networks)
        self._cached_hop = functools.lru_cache(maxsize=4096)(self._read_hop)

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def resolve(self, peer: str, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The client behind `peer`, from the request's headers when `peer` is trusted.

        A request may carry both headers, one written by the proxy and one by the client:
        when they name different clients, neither can be told to be the proxy's, and the
        peer itself is the answer (so an `allowed_ips` check fails closed)."""
        hop = self._hop(peer)
        if hop is None or not hop[1]:
            return peer
        last = hop[0]
        forwarded_for, forwarded = _forwarding_headers(headers)
        if forwarded is None:
            return last if forwarded_for is None else self._walk(last, _xff_nodes(forwarded_for))
        client = self._walk(last, _forwarded_nodes(forwarded))
        if forwarded_for is not None and self._walk(last, _xff_nodes(forwarded_for)) != client:
            return last
        return client

    def _walk(self, last: str, nodes: Iterator[str | None]) -> str:
        """From the peer leftwards: the first hop not trusted, or the last address read."""
        for node in nodes:
            hop = None if node is None else self._hop(node)
            if hop is None:
                return last
            last, trusted = hop
            if not trusted:
                return last
        return last

    def _hop(self, node: str) -> tuple[str, bool] | None:
        """The node's address (as `ipaddress` writes it) and whether it is trusted; None
        when it is not an address. Remembered, since parsing costs microseconds and the same
        few proxies and clients come back, but not text too long to be an address."""
        if len(node) > MAX_NODE_CHARS:
            return self._read_hop(node)
        return self._cached_hop(node)

    def _read_hop(self, node: str) -> tuple[str, bool] | None:
        address = parse_node(node)
        return None if address is None else (str(address), self.trusts(address))


def parse_trusted_proxies(networks: list[str]) -> TrustedProxies | None:
    """None (and so no header is ever looked at) when no proxy is trusted."""
    return TrustedProxies(networks) if networks else None


def _forwarding_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """Each header's lines joined in order, as one list (RFC 9110 §5.3)."""
    forwarded_for: list[bytes] = []
    forwarded: list[bytes] = []
    for name, value in headers:
        if name == b"x-forwarded-for":
            forwarded_for.append(value)
        elif name == b"forwarded":
            forwarded.append(value)
    return _joined(forwarded_for), _joined(forwarded)


def _joined(values: list[bytes]) -> str | None:
    return b",".join(values).decode("latin-1") if values else None


def _xff_nodes(value: str) -> Iterator[str]:
    """`X-Forwarded-For: client, proxy1, proxy2`, right to left."""
    for entry in reversed(value.split(",")):
        yield entry.strip()


def _forwarded_nodes(value: str) -> Iterator[str | None]:
    """`Forwarded: for=client, for=proxy1;proto=https`, right to left: each element's
    `for=` node (None for an element without one, or one that cannot be read)."""
    for element in reversed(_split_outside_quotes(value)):
        yield _for_parameter(element)


def _split_outside_quotes(value: str) -> list[str]:
    """The elements of a `Forwarded` list: split at commas not inside a quoted string."""
    if '"' not in value:
        return value.split(",")
    elements, start, quoted, escaped = [], 0, False, False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            elements.append(value[start:index])
            start = index + 1
    elements.append(value[start:])
    return elements


def _for_parameter(element: str) -> str | None:
    """The element's `for` value, unquoted; None when it has none, or twice, or the element
    is not `name=value` pairs separated by semicolons."""
    found: str | None = None
    position, end = 0, len(element)
    while position < end:
        match = _PAIR.match(element, position)
        if match is None:
            return None
        name, value = match.group(1), match.group(2)
        if name.lower() == "for":
            if found is not None:
                return None  # each parameter at most once per element (RFC 7239 §4)
            found = _QUOTED_PAIR.sub(r"\1", value[1:-1]) if value.startswith('"') else value
        position = match.end()
    return found


def parse_node(text: str) -> Address | None:
    """An address as proxies write it: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`,
    `[2001:db8::1]`, `[2001:db8::1]:443` (RFC 7239 §6); IPv4-mapped IPv6 as IPv4. None for
    anything else, RFC 7239's `unknown` and obfuscated `_names` included."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            return None
        if rest and not (rest[0] == ":" and _PORT.fullmatch(rest, 1)):
            return None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not _PORT.fullmatch(port):
            return None
    else:
        host = text
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def came_over_https(scope: dict[str, Any], proxies: TrustedProxies | None) -> bool:
    """Whether the client reached the relay over HTTPS: the socket's own scheme or, when the
    socket peer is a trusted proxy, the last `X-Forwarded-Proto` value (the one written by
    the proxy nearest the relay). Decides whether a cookie gets `Secure`."""
    if scope.get("scheme") == "https":
        return True
    client = scope.get("client")
    if proxies is None or client is None:
        return False
    hop = proxies._hop(client[0])
    if hop is None or not hop[1]:
        return False
    proto = b""
    for name, value in scope["headers"]:
        if name == b"x-forwarded-proto":
            proto = value
    return proto.rsplit(b",", 1)[-1].strip().lower() == b"https"
