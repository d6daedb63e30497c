"""A relay with priced models in front of the billing mocks, for the gate edge-case tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.gate_edges.support import BillingAnthropic, BillingOpenAI, billing_config


@pytest.fixture(scope="session")
def billing_openai() -> Iterator[BillingOpenAI]:
    mock = BillingOpenAI()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="session")
def billing_anthropic() -> Iterator[BillingAnthropic]:
    mock = BillingAnthropic()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="session")
def billing_relay(
    billing_openai: BillingOpenAI, billing_anthropic: BillingAnthropic, tmp_path_factory
) -> Iterator[RunningRelay]:
    running = start_relay(
        billing_config(billing_openai, billing_anthropic),
        tmp_path_factory.mktemp("billing"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    yield running
    stop_relay(running)
