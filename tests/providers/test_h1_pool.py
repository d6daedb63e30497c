"""Where the relay's own upstream client applies, and what it writes."""

from __future__ import annotations

import pytest

from llmrelay.providers.h1_pool import origin_of, pool_for, request_path

KEY = {"x-api-key": "sk-ant-0123456789", "content-type": "application/json"}


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "host_header"),
    [
        ("http://127.0.0.1:8080/v1", "127.0.0.1", 8080, False, "127.0.0.1:8080"),
        ("https://api.anthropic.com", "api.anthropic.com", 443, True, "api.anthropic.com"),
        ("https://example.com:8443/x", "example.com", 8443, True, "example.com:8443"),
        ("http://[::1]:9000", "::1", 9000, False, "[::1]:9000"),
        ("http://localhost", "localhost", 80, False, "localhost"),
    ],
)
def test_the_origin_of_a_base_url(
    url: str, host: str, port: int, tls: bool, host_header: str
) -> None:
    origin = origin_of(url)
    assert origin is not None
    assert (origin.host, origin.port, origin.tls, origin.host_header) == (
        host,
        port,
        tls,
        host_header,
    )
    assert origin.server_hostname == (host if tls else None)


def test_the_path_keeps_its_query() -> None:
    assert request_path("https://h.example/v1/messages?beta=true") == "/v1/messages?beta=true"


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://files.example/v1", KEY),
        ("https://user:secret@proxy.example/v1", KEY),
        ("https://api.example/v1", {**KEY, "Accept-Encoding": "gzip"}),
        ("https://api.example/v1", {**KEY, "Host": "other.example"}),
        ("https://api.example/v1", {**KEY, "x-note": "two\r\nlines"}),
    ],
)
def test_what_the_own_client_leaves_to_aiohttp(url: str, headers: dict[str, str]) -> None:
    assert pool_for(url, headers, 10) is None


def test_a_request_is_written_whole() -> None:
    pool = pool_for("https://api.example:8443/base", KEY, 10)
    assert pool is not None
    request = pool.request("/base/v1/messages", [("x-api-key", "k"), ("accept", "*/*")], b"{}")
    assert request == (
        b"POST /base/v1/messages HTTP/1.1\r\nHost: api.example:8443\r\nx-api-key: k\r\n"
        b"accept: */*\r\nContent-Length: 2\r\n\r\n{}"
    )
