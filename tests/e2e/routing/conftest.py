"""Fixtures every routing test module shares: its fault mocks, a relay over them, a key, a client.

A module names its mocks in `MOCKS` and builds its relay's configuration in
`relay_config(mocks, **vendors)`; the fixtures here start both once per module. A module that
needs other upstreams too (the Anthropic or Gemini mock) overrides `vendors` to start them.

After every test, the relay process itself (seen through /proc, resources.py) must hold no more
connections to each mock than before the test, or than the pool the test needed
(`@pytest.mark.pool(n)`: n requests in flight at once; 1 otherwise), and none half-closed: a
fault that leaked a socket, or a task holding one, fails the test that caused it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningRelay, start_relay, stop_relay
from tests.e2e.routing.helpers import start_mocks, stop_mocks
from tests.e2e.routing.resources import assert_within_pool, upstream_connections
from tests.mocks.fault_upstream import FaultUpstream


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pool(n): the test has n requests in flight at once (default 1)"
    )


@pytest.fixture(scope="module")
def mocks(request: pytest.FixtureRequest) -> Iterator[dict[str, FaultUpstream]]:
    running = start_mocks(*request.module.MOCKS)
    yield running
    stop_mocks(running)


@pytest.fixture(scope="module")
def vendors() -> dict[str, Any]:
    """Other upstreams the module's relay talks to, by keyword for `relay_config`."""
    return {}


@pytest.fixture(scope="module")
def relay(
    request: pytest.FixtureRequest,
    mocks: dict[str, FaultUpstream],
    vendors: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningRelay]:
    config: dict[str, Any] = request.module.relay_config(mocks, **vendors)
    name = request.module.__name__.rsplit(".", 1)[-1]
    running = start_relay(config, tmp_path_factory.mktemp(name))
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def api_key(relay: RunningRelay) -> str:
    return relay.create_key("routing")


@pytest.fixture()
def client(relay: RunningRelay, api_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=relay.base_url, api_key=api_key, max_retries=0, timeout=30) as sdk:
        yield sdk


@pytest.fixture(autouse=True)
def fresh(mocks: dict[str, FaultUpstream]) -> Iterator[None]:
    """Every mock answers normally before and after each test."""
    for mock in mocks.values():
        mock.reset()
    yield
    for mock in mocks.values():
        mock.reset()


@pytest.fixture(autouse=True)
def no_leaks(
    request: pytest.FixtureRequest, relay: RunningRelay, mocks: dict[str, FaultUpstream]
) -> Iterator[None]:
    """The relay's connections to the mocks stay within the pool the test needed."""
    before = upstream_connections(relay, mocks.values())
    yield
    marker = request.node.get_closest_marker("pool")
    pool = marker.args[0] if marker else 1
    bound = {name: max(count, pool) for name, count in before.items()}
    assert_within_pool(relay, mocks.values(), bound)
