"""Images for vendors that need them inline: data URIs parsed, http(s) URLs fetched safely.

The relay fetches a URL on a client's behalf only within limits: http(s) only, a size cap, a
timeout, an `image/*` content type, and never into a private, loopback, link-local or other
non-global address (unless `images.allow_private_networks` is set). The address check runs
in the resolver, on the very addresses the connection will use, and again on every redirect,
so DNS tricks and redirects cannot reach inside the network.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from llmrelay.config import ImagesConfig
from llmrelay.protocol.errors import RelayError, invalid_request

MAX_REDIRECTS = 3


@dataclass(slots=True, frozen=True)
class InlineImage:
    media_type: str
    data: str
    """Base64, without the `data:` prefix."""


class ImageRefused(Exception):
    pass


def parse_data_uri(url: str, param: str) -> InlineImage:
    """`data:image/png;base64,....` -> InlineImage; 400 naming `param` when malformed."""
    header, sep, data = url.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise invalid_request(
            "Image data URIs must look like 'data:image/png;base64,<data>'.",
            param=param,
            code="invalid_image_url",
        )
    media_type = header[5:-7] or "application/octet-stream"
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_request(
            "The image data URI is not valid base64.", param=param, code="invalid_image_url"
        ) from None
    return InlineImage(media_type, data)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_REFUSED_IPV6 = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64
    ipaddress.IPv6Network("fec0::/10"),  # deprecated site-local
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


def address_allowed(address: str) -> bool:
    """Only globally routable unicast addresses, including any IPv4 an IPv6 one wraps."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _REFUSED_IPV6):
            return False
        embedded = _embedded_ipv4(ip)
        if embedded:
            return all(address_allowed(str(inner)) for inner in embedded)
    return ip.is_global and not ip.is_multicast


def _literal_ip(host: str) -> str | None:
    """The address a host that is an IP literal denotes, legacy numeric forms included
    (`2130706433`, `127.1`, `0x7f.1`, `0177.0.0.1` all mean 127.0.0.1)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


class _GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does, then drops every address the relay must not reach."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [entry for entry in found if address_allowed(entry["host"])]
        if not allowed:
            raise ImageRefused(f"{host} resolves to a private or reserved address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _refused(param: str, why: str) -> RelayError:
    return invalid_request(
        f"The image URL cannot be used: {why}.", param=param, code="invalid_image_url"
    )


def _check_literal_host(url: str, allow_private: bool) -> None:
    """Refuse what the resolver never sees: IP literals, in any spelling aiohttp accepts.

    The host is read with yarl, the parser aiohttp itself uses, so that forms another parser
    reads differently (full-width digits, ideographic dots) are judged as aiohttp will
    connect to them."""
    try:
        parsed = URL(url)
        host = parsed.host
    except (ValueError, TypeError):
        raise ImageRefused("it is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise ImageRefused("only http and https URLs can be fetched")
    if allow_private:
        return
    literal = _literal_ip(host.strip("[]"))
    if literal is None:
        if host.lower().rstrip(".") == "localhost":
            raise ImageRefused("localhost is not reachable from the relay")
        return
    if not address_allowed(literal):
        raise ImageRefused("the address is private, loopback or reserved")


class ImageFetcher:
    def __init__(self, config: ImagesConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver = None if self.config.allow_private_networks else _GuardedResolver()
            connector = aiohttp.TCPConnector(resolver=resolver, limit=64)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
                headers={"user-agent": "llmrelay-image-fetcher"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, param: str) -> InlineImage:
        """Download an image URL for inlining; 400 naming `param` when it cannot be used."""
        try:
            return await self._fetch(url)
        except ImageRefused as exc:
            raise _refused(param, str(exc)) from None
        except TimeoutError:
            raise _refused(param, "fetching it timed out") from None
        except aiohttp.ClientError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ImageRefused):
                raise _refused(param, str(cause)) from None
            raise _refused(param, f"fetching it failed ({type(exc).__name__})") from None

    async def _fetch(self, url: str) -> InlineImage:
        session = self._open()
        for _ in range(MAX_REDIRECTS + 1):
            _check_literal_host(url, self.config.allow_private_networks)
            async with session.get(url, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308):
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                if response.status != 200:
                    raise ImageRefused(f"the server answered {response.status}")
                media_type = response.content_type or ""
                if not media_type.startswith("image/"):
                    raise ImageRefused(f"it is not an image ({media_type or 'no content type'})")
                body = await self._read_limited(response)
                return InlineImage(media_type, base64.b64encode(body).decode("ascii"))
        raise ImageRefused("too many redirects")

    async def _read_limited(self, response: Any) -> bytes:
        limit = self.config.max_bytes
        if (response.content_length or 0) > limit:
            raise ImageRefused(f"it is larger than {limit} bytes")
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                raise ImageRefused(f"it is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
