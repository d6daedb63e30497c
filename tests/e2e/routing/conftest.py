"""Fixtures every routing test module shares: its fault mocks, a relay over them, a key, a client.

A module names its mocks in `MOCKS` and builds its relay's configuration in
`relay_config(mocks, **vendors)`; the fixtures here start both once per module. A module that
needs other upstreams too (the Anthropic or Gemini mock) overrides `vendors` to start them.

After every test, the relay process itself (seen through /proc, resources.py) must hold no more
connections to each mock than before the test, or than the pool the test needed
(`@pytest.mark.pool(n)`: n requests in flight at once; 1 otherwise), and none half-closed; and
its asyncio tasks (seen through `GET /admin/status`) must come back to what they were. A fault
that leaked a socket or a task fails the test that caused it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
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
    running = start_relay(config, tmp_path_factory.mktemp(name), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
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
    """The relay's connections to the mocks stay within the pool the test needed, and its
    tasks come back to what they were."""
    before = upstream_connections(relay, mocks.values())
    tasks_before = relay_tasks(relay)
    yield
    marker = request.node.get_closest_marker("pool")
    pool = marker.args[0] if marker else 1
    bound = {name: max(count, pool) for name, count in before.items()}
    assert_within_pool(relay, mocks.values(), bound)
    try:
        wait_until(lambda: relay_tasks(relay) <= tasks_before, timeout=5)
    except AssertionError:
        raise AssertionError(
            f"the relay runs {relay_tasks(relay)} asyncio tasks after the test, "
            f"{tasks_before} before it"
        ) from None


def relay_tasks(relay: RunningRelay) -> int:
    """The relay's asyncio tasks, the status request's own included (so always one more)."""
    status = httpx.get(
        relay.url + "/admin/status", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    )
    status.raise_for_status()
    return int(status.json()["asyncio_tasks"])
