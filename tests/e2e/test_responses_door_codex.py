"""The real Codex CLI through the relay's Responses door to an OpenAI Chat upstream (a mock
that speaks Chat Completions with tool calls): a plain question, and the agent loop, where the
model asks for Codex's own shell tool (`exec_command`), Codex runs it, and the model's next
answer quotes what it printed. The command computes its marker, so the marker reaches the
answer only if Codex really ran it. The same loop with a thinking model that wants its
`reasoning_content` back on the tool-call turn (as DeepSeek does) shows Codex sending back the
relay's own `encrypted_content`. Select with `-m clis`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.clients import fixtures
from tests.clients.harness import CliRun, Codex
from tests.conftest import RunningRelay, start_relay, stop_relay
from tests.mocks.agent_chat_upstream import CALL_ID, MockAgentChatModel
from tests.mocks.agent_upstream import MockAgentModel, plain_answer, tool_answer
from tests.mocks.openai_thinking_tools import THOUGHT

pytestmark = pytest.mark.clis

agent_model, codex = fixtures.agent_model, fixtures.codex

MODEL = "gpt-relay-test"
THINKING = "gpt-relay-thinking"
QUESTION = "What is the capital of France?"
COMMAND = "echo relay-marker-$((1200+34))"
MARKER = "relay-marker-1234"
LOOP_PROMPT = f"Please run `{COMMAND}` and tell me what it printed."


@pytest.fixture(scope="module")
def chat_model() -> Iterator[MockAgentChatModel]:
    mock = MockAgentChatModel()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def codex_relay(chat_model: MockAgentChatModel, tmp_path_factory) -> Iterator[RunningRelay]:
    provider = {"type": "openai", "base_url": chat_model.base_url, "api_key": "sk-upstream"}
    config = {
        "providers": {"chat": provider},
        "models": {
            MODEL: {"provider": "chat", "upstream_model": "agent-chat"},
            THINKING: {"provider": "chat", "upstream_model": "agent-chat-thinking"},
        },
    }
    running = start_relay(config, tmp_path_factory.mktemp("codex-relay"))
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def relay_key(codex_relay: RunningRelay) -> str:
    return codex_relay.create_key("codex")


def ask(
    cli: Codex,
    relay: RunningRelay,
    key: str,
    trap: MockAgentModel,
    prompt: str,
    model: str = MODEL,
) -> CliRun:
    run = cli.run(prompt, base_url=relay.base_url, key=key, model=model)
    assert run.returncode == 0, run.explain()
    assert trap.received == [], "Codex tried to reach another host"
    return run


def test_codex_answers_a_plain_question_through_a_chat_upstream(
    codex: Codex,
    agent_model: MockAgentModel,
    codex_relay: RunningRelay,
    relay_key: str,
    chat_model: MockAgentChatModel,
) -> None:
    chat_model.received.clear()
    run = ask(codex, codex_relay, relay_key, agent_model, QUESTION)
    assert run.stdout.strip() == plain_answer(QUESTION)
    [sent] = chat_model.received
    assert sent["stream"] is True
    assert sent["messages"][0]["role"] == "system"  # Codex's developer messages
    assert sent["messages"][-1] == {"role": "user", "content": QUESTION}
    assert "web_search" not in json.dumps(sent["tools"])  # a built-in, dropped


def test_codex_runs_exec_command_and_quotes_what_it_printed(
    codex: Codex,
    agent_model: MockAgentModel,
    codex_relay: RunningRelay,
    relay_key: str,
    chat_model: MockAgentChatModel,
) -> None:
    assert MARKER not in LOOP_PROMPT
    chat_model.received.clear()
    run = ask(codex, codex_relay, relay_key, agent_model, LOOP_PROMPT)
    assert tool_answer("") in run.stdout
    assert run.stdout.strip().endswith(MARKER)
    first, second = chat_model.received
    assert "exec_command" in [tool["function"]["name"] for tool in first["tools"]]
    call_turn, tool_turn = second["messages"][-2:]
    [call] = call_turn["tool_calls"]
    assert (call["id"], call["function"]["name"]) == (CALL_ID, "exec_command")
    assert json.loads(call["function"]["arguments"]) == {"cmd": COMMAND}
    assert (tool_turn["role"], tool_turn["tool_call_id"]) == ("tool", CALL_ID)
    assert tool_turn["content"].rstrip().endswith(f"Output:\n{MARKER}")


def test_codex_gives_a_thinking_model_its_reasoning_back(
    codex: Codex,
    agent_model: MockAgentModel,
    codex_relay: RunningRelay,
    relay_key: str,
    chat_model: MockAgentChatModel,
) -> None:
    chat_model.received.clear()
    run = ask(codex, codex_relay, relay_key, agent_model, LOOP_PROMPT, THINKING)
    assert run.stdout.strip().endswith(MARKER)
    first, second = chat_model.received
    assert first["stream"] is True
    call_turn = second["messages"][-2]
    assert [call["id"] for call in call_turn["tool_calls"]] == [CALL_ID]
    assert call_turn["reasoning_content"] == THOUGHT
