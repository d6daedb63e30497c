"""providers/images.py: the SSRF guard's address rules, data URIs, and fetching for real from a
local image server (limits, content type, redirects, names that resolve inside the network)."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from llmrelay.config import ImagesConfig
from llmrelay.protocol.errors import RelayError
from llmrelay.providers import images as images_module
from llmrelay.providers.images import (
    ImageFetcher,
    ImageRefused,
    _check_literal_host,
    _GuardedResolver,
    address_allowed,
    parse_data_uri,
)
from tests.mocks.gemini_upstream import ImageServer, png_bytes

PARAM = "messages[0].content[1].image_url.url"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1%eth0",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
        "192.0.2.1",
        "2001:db8::1",
        "198.18.0.1",
    ],
)
def test_private_and_reserved_addresses_are_refused(address: str) -> None:
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(address)


def test_data_uri_parses() -> None:
    image = parse_data_uri("data:image/webp;base64,UklGRg==", PARAM)
    assert (image.media_type, image.data) == ("image/webp", "UklGRg==")
    assert parse_data_uri("data:;base64,AAAA", PARAM).media_type == "application/octet-stream"


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64",
        "image/png;base64,AAAA",
        "data:image/png,AAAA",
        "data:image/png;charset=utf-8,AAAA",
        "data:image/png;base64,not*base64!",
    ],
)
def test_bad_data_uris_name_the_param(url: str) -> None:
    with pytest.raises(RelayError) as caught:
        parse_data_uri(url, PARAM)
    assert (caught.value.status, caught.value.param) == (400, PARAM)
    assert caught.value.code == "invalid_image_url"


async def test_guarded_resolver_drops_internal_names() -> None:
    resolver = _GuardedResolver()
    try:
        with pytest.raises(ImageRefused):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    running = ImageServer()
    running.start()
    yield running
    running.stop()


@pytest.fixture()
async def open_fetcher() -> AsyncIterator[ImageFetcher]:
    config = ImagesConfig(allow_private_networks=True, max_bytes=50_000, timeout_seconds=1)
    fetcher = ImageFetcher(config)
    yield fetcher
    await fetcher.close()


@pytest.fixture()
async def guarded_fetcher() -> AsyncIterator[ImageFetcher]:
    fetcher = ImageFetcher(ImagesConfig())
    yield fetcher
    await fetcher.close()


async def refused(fetcher: ImageFetcher, url: str) -> str:
    with pytest.raises(RelayError) as caught:
        await fetcher.fetch(url, PARAM)
    assert (caught.value.status, caught.value.param) == (400, PARAM)
    return caught.value.message


async def test_fetch_inlines_an_image(open_fetcher: ImageFetcher, server: ImageServer) -> None:
    image = await open_fetcher.fetch(server.url + "/cat.png", PARAM)
    assert image.media_type == "image/png"
    assert base64.b64decode(image.data) == png_bytes()


async def test_fetch_follows_a_redirect(open_fetcher: ImageFetcher, server: ImageServer) -> None:
    image = await open_fetcher.fetch(server.url + "/redirect?to=/cat.png", PARAM)
    assert base64.b64decode(image.data) == png_bytes()


@pytest.mark.parametrize(
    "path, why",
    [
        ("/notes.txt", "not an image"),
        ("/big.png", "larger than 50000 bytes"),
        ("/missing.png", "answered 404"),
        ("/slow.png", "timed out"),
        ("/redirect?to=/redirect?to=/redirect?to=/redirect?to=/cat.png", "too many redirects"),
    ],
)
async def test_fetch_limits(open_fetcher: ImageFetcher, server: ImageServer, path, why) -> None:
    assert why in await refused(open_fetcher, server.url + path)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cat.png",
        "http://localhost:{port}/cat.png",
        "http://LocalHost:{port}/cat.png",
        "http://[::1]:{port}/cat.png",
        "http://[::ffff:127.0.0.1]:{port}/cat.png",
        "http://2130706433:{port}/cat.png",
        "http://127.1:{port}/cat.png",
        "http://0177.0.0.1:{port}/cat.png",
        "ftp://127.0.0.1:{port}/cat.png",
        "file:///etc/passwd",
    ],
)
async def test_guard_refuses_loopback_without_connecting(
    guarded_fetcher: ImageFetcher, server: ImageServer, url: str
) -> None:
    hits = len(server.hits)
    await refused(guarded_fetcher, url.format(port=server.port))
    assert len(server.hits) == hits


async def test_guard_refuses_a_name_resolving_to_loopback(
    guarded_fetcher: ImageFetcher, server: ImageServer
) -> None:
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, server.port)}
    except OSError:
        pytest.skip("the host name does not resolve here")
    if any(address_allowed(a) for a in addresses):
        pytest.skip("the host name resolves to a public address here")
    hits = len(server.hits)
    message = await refused(guarded_fetcher, f"http://{name}:{server.port}/cat.png")
    assert "private or reserved" in message and len(server.hits) == hits


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/cat.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/cat.png",
        "http://[::1]:{port}/cat.png",
    ],
)
async def test_redirects_into_the_network_are_refused(
    guarded_fetcher: ImageFetcher,
    server: ImageServer,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:
    """The image server plays a public host (127.0.0.1 counts as public here) that redirects
    inside the network: the guard checks the redirect's target before connecting to it."""
    real = images_module.address_allowed
    monkeypatch.setattr(images_module, "address_allowed", lambda a: a == "127.0.0.1" or real(a))
    target = target.format(port=server.port)
    hits = len(server.hits)
    message = await refused(guarded_fetcher, f"{server.url}/redirect?to={target}")
    assert "private" in message or "localhost" in message
    assert len(server.hits) == hits + 1 and server.hits[-1].startswith("/redirect?to=")


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1", "2001:0:4136:e378:8000:63bf:f5ff:fffe"],
)
def test_ipv6_wrapping_a_private_ipv4_is_refused(address: str) -> None:
    assert not address_allowed(address)


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.1", "0177.0.0.1"])
def test_legacy_numeric_hosts_are_read_as_the_address_they_mean(host: str) -> None:
    with pytest.raises(ImageRefused):
        _check_literal_host(f"http://{host}/cat.png", allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://１２７.０.０.１:18999/cat.png",
        "http://127。0。0。1/cat.png",
        "http://①②⑦.⓪.⓪.①/cat.png",
        "http://[::1/cat.png",
        "http://[64:ff9b:1::a00:1]/cat.png",
        "http://[fec0::1]/cat.png",
    ],
)
def test_hosts_aiohttp_would_read_as_private_are_refused(url: str) -> None:
    with pytest.raises(ImageRefused):
        _check_literal_host(url, allow_private=False)
