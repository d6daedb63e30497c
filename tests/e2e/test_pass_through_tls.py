"""A pass-through's stream to an `https` upstream, on the relay's own client: TLS with the
system's trust store (here a test CA, through `SSL_CERT_FILE`), the certificate checked."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import RunningRelay, start_relay, stop_relay
from tests.mocks.anthropic_faults import FaultAnthropic
from tests.mocks.anthropic_upstream import ANTHROPIC_KEY

trustme = pytest.importorskip("trustme", reason="trustme (a dev dependency) makes the test CA")

TIMEOUTS = {"connect": 2, "first_token": 5, "idle": 5, "total": 30}


def tls_mock(ca: Any) -> FaultAnthropic:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    mock = FaultAnthropic(ssl_context=context)
    mock.start()
    return mock


@pytest.fixture(scope="module")
def mocks() -> Iterator[tuple[FaultAnthropic, FaultAnthropic, Any]]:
    """An upstream whose certificate the relay trusts, one whose it does not, and the CA."""
    trusted_ca = trustme.CA()
    trusted, stranger = tls_mock(trusted_ca), tls_mock(trustme.CA())
    yield trusted, stranger, trusted_ca
    trusted.stop()
    stranger.stop()


@pytest.fixture(scope="module")
def relay(mocks: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    trusted, stranger, ca = mocks
    directory: Path = tmp_path_factory.mktemp("tls")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def provider(mock: FaultAnthropic) -> dict[str, Any]:
        return {
            "type": "anthropic",
            "base_url": mock.base_url,
            "api_key": ANTHROPIC_KEY,
            "timeouts": TIMEOUTS,
        }

    config = {
        "providers": {"trusted": provider(trusted), "stranger": provider(stranger)},
        "models": {
            "claude-tls": {"provider": "trusted", "upstream_model": "claude-sonnet-4-6"},
            "claude-stranger": {"provider": "stranger", "upstream_model": "claude-sonnet-4-6"},
        },
    }
    running = start_relay(config, directory, SSL_CERT_FILE=str(ca_file))
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def key(relay: RunningRelay) -> str:
    return relay.create_key("tls")


def test_streams_reach_an_https_upstream_over_one_connection(
    relay: RunningRelay, key: str, mocks: Any
) -> None:
    trusted = mocks[0]
    assert trusted.base_url.startswith("https://")
    with anthropic.Anthropic(base_url=relay.url, api_key=key, max_retries=0) as claude:
        for turn in range(2):
            with claude.messages.stream(
                model="claude-tls",
                max_tokens=50,
                messages=[{"role": "user", "content": f"secure {turn}"}],
            ) as stream:
                assert stream.get_final_message().content[0].text == f"echo: secure {turn}"
    assert trusted.connections == [1, 1]


@pytest.mark.parametrize("stream", [True, False])
def test_an_upstream_certificate_the_relay_does_not_trust_is_refused(
    relay: RunningRelay, key: str, mocks: Any, stream: bool
) -> None:
    body = {
        "model": "claude-stranger",
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": "hello"}],
    }
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    response = httpx.post(relay.url + "/v1/messages", json=body, headers=headers, timeout=30)
    assert response.status_code == 502, response.text
    assert "could not be reached" in response.json()["error"]["message"]
    assert mocks[1].connections == []  # no request got through
