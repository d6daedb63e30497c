"""A relay with priced models in front of the review mocks, shared by the gate edge-case tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.gate_edges.support import ReviewAnthropic, ReviewOpenAI, review_config


@pytest.fixture(scope="session")
def review_openai() -> Iterator[ReviewOpenAI]:
    mock = ReviewOpenAI()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="session")
def review_anthropic() -> Iterator[ReviewAnthropic]:
    mock = ReviewAnthropic()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="session")
def review_relay(
    review_openai: ReviewOpenAI, review_anthropic: ReviewAnthropic, tmp_path_factory
) -> Iterator[RunningRelay]:
    running = start_relay(
        review_config(review_openai, review_anthropic),
        tmp_path_factory.mktemp("review"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    yield running
    stop_relay(running)
