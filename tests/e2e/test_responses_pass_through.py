"""The Responses door to an OpenAI provider that speaks the Responses API itself: the body
goes through untouched but for `model`, the answer comes back as the upstream sent it, and a
`store: true` answer (whole or streamed) is kept, so `retrieve` and `previous_response_id`
work with the upstream's own response ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.mocks.agent_upstream import MockAgentModel, plain_answer

UPSTREAM_KEY = "sk-upstream-responses-0123456789abcdef"


@pytest.fixture
def agent_model() -> Iterator[MockAgentModel]:
    mock = MockAgentModel()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture
def relay(agent_model: MockAgentModel, tmp_path: Path) -> Iterator[RunningRelay]:
    config = {
        "providers": {
            "gpt": {
                "type": "openai",
                "base_url": agent_model.url + "/v1",
                "api_key": UPSTREAM_KEY,
                "responses": True,
            }
        },
        "models": {"gpt-native": {"provider": "gpt", "upstream_model": "gpt-upstream"}},
    }
    running = start_relay(config, tmp_path / "relay", LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


@pytest.fixture
def client(relay: RunningRelay) -> Iterator[openai.OpenAI]:
    key = relay.create_key("responses-native")
    with openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0) as sdk:
        yield sdk


def test_a_whole_answer_passes_through_and_is_kept(
    client: openai.OpenAI, agent_model: MockAgentModel
) -> None:
    first = client.responses.create(model="gpt-native", input="hello", metadata={"a": "b"})
    assert first.output_text == plain_answer("hello")
    [sent] = agent_model.requests_to("/v1/responses")
    assert sent.body["model"] == "gpt-upstream" and sent.body["metadata"] == {"a": "b"}
    assert UPSTREAM_KEY in sent.headers["authorization"]
    assert client.responses.retrieve(first.id).output_text == first.output_text

    client.responses.create(model="gpt-native", input="and again", previous_response_id=first.id)
    _, continued = agent_model.requests_to("/v1/responses")
    assert "previous_response_id" not in continued.body  # the upstream never saw that id
    texts = [str(item) for item in continued.body["input"]]
    assert any("hello" in text for text in texts) and any("and again" in t for t in texts)


def test_a_streamed_answer_is_kept_before_it_completes(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-native", input="stream it") as stream:
        final = stream.get_final_response()
    assert final.output_text == plain_answer("stream it")
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_the_relays_own_reasoning_items_never_reach_openai(
    client: openai.OpenAI, agent_model: MockAgentModel
) -> None:
    """OpenAI answers 400 for encrypted content it did not make: a reasoning item the relay
    minted (from a turn a Chat upstream answered) is left out; OpenAI's own stay."""
    user = {"type": "message", "role": "user", "content": "hello"}
    theirs = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB-x"}
    ours = {**theirs, "id": "rs_2", "encrypted_content": "llmrelay.1.e30=.bWFj"}
    answer = {"type": "message", "role": "assistant", "content": "hi"}
    again = {**user, "content": "again"}
    request = {"model": "gpt-native", "store": False}
    client.responses.create(input=[user, theirs, answer, ours, again], **request)
    client.responses.create(input=[user, theirs, answer, again], **request)
    stripped, untouched = agent_model.requests_to("/v1/responses")
    assert stripped.body["input"] == [user, theirs, answer, again]
    assert untouched.body["input"] == [user, theirs, answer, again]
