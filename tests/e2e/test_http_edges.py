"""The edges of HTTP itself: paths with a trailing slash, and methods a route does not take."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay
from tests.e2e.test_errors import assert_openai_error

SPOOFED_HOST = "evil.example"
NO_SUCH_KEY = "/admin/keys/key_doesnotexist"


@pytest.fixture()
def admin(relay: RunningRelay) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=relay.url, headers=headers, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz/"),
        ("GET", "/readyz/"),
        ("GET", "/v1/models/"),
        ("GET", "/admin/keys/"),
        ("GET", "/admin/usage/"),
        ("GET", "/v1/key/"),
        ("GET", "/console/assets/app.css/"),
        ("POST", "/v1/chat/completions/"),
        ("POST", "/admin/keys/"),
    ],
)
def test_a_trailing_slash_is_404_and_never_a_redirect(
    admin: httpx.Client, method: str, path: str
) -> None:
    """Starlette's slash redirect builds its absolute `Location` from the `Host` header: behind
    a proxy that passes Host on, a spoofed Host made the relay redirect to any site."""
    response = admin.request(method, path, headers={"host": SPOOFED_HOST}, json={})
    assert "location" not in response.headers
    assert_openai_error(response, 404)
    assert SPOOFED_HOST not in response.text


ALLOWED = [
    ("/v1/chat/completions", "POST"),
    ("/v1/models", "GET, HEAD"),
    ("/v1/models/gpt-5", "GET, HEAD"),
    ("/healthz", "GET, HEAD"),
    ("/readyz", "GET, HEAD"),
    ("/admin/keys", "GET, HEAD, POST"),
    (NO_SUCH_KEY, "DELETE, GET, HEAD, PATCH"),
    (NO_SUCH_KEY + "/rotate", "POST"),
    ("/admin/usage", "GET, HEAD"),
    ("/admin/requests.csv", "GET, HEAD"),
    ("/admin/openapi.json", "GET, HEAD"),
    ("/v1/key", "GET, HEAD"),
    ("/dashboard/billing/usage", "GET, HEAD"),
    ("/console", "GET, HEAD"),
    ("/console/assets/app.css", "GET, HEAD"),
]
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@pytest.mark.parametrize(("path", "allow"), ALLOWED)
def test_every_405_says_which_methods_the_route_takes(
    admin: httpx.Client, path: str, allow: str
) -> None:
    allowed = allow.split(", ")
    for method in METHODS:
        response = admin.request(method, path, json={} if method != "GET" else None)
        if method in allowed:
            assert response.status_code != 405, (method, path)
            continue
        if method != "HEAD":  # a HEAD answer has no body to check
            error = assert_openai_error(response, 405, code="method_not_allowed")
            assert method in error["message"]
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == allow, (method, path)
