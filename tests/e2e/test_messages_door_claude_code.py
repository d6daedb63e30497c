"""The real Claude Code CLI through the relay's Messages door, to an OpenAI-compatible upstream
(the agent mock model's Chat Completions side): a plain question, and the agent loop (the model
asks for `Bash`, the CLI runs it, the model's next answer quotes what it printed). The command
computes its marker, so the marker reaches the answer only if the CLI really ran it.

Select these with `-m clis`; they skip without the pinned CLI (scripts/ensure-clis.sh).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.clients import fixtures
from tests.clients.harness import ClaudeCode, CliRun
from tests.conftest import RunningRelay, start_relay, stop_relay, wait_until
from tests.mocks.agent_upstream import MockAgentModel, plain_answer, tool_answer

pytestmark = pytest.mark.clis

agent_model, claude_code = fixtures.agent_model, fixtures.claude_code

QUESTION = "What is the capital of France?"
COMMAND = "echo relay-marker-$((1200+34))"
MARKER = "relay-marker-1234"
LOOP_PROMPT = f"Please run `{COMMAND}` and tell me what it printed."
ALIAS = "claude-sonnet-4-6"
"""What Claude Code asks for: an Anthropic name, an alias of the relay's model."""


@pytest.fixture
def chat_relay(agent_model: MockAgentModel, tmp_path: Path) -> Iterator[RunningRelay]:
    provider = {"type": "openai", "base_url": agent_model.url + "/v1", "api_key": "sk-upstream"}
    model = {"provider": "agent", "upstream_model": "agent-chat", "aliases": [ALIAS]}
    config = {"providers": {"agent": provider}, "models": {"agent-chat": model}}
    running = start_relay(config, tmp_path / "relay")
    yield running
    stop_relay(running)


def ask(claude: ClaudeCode, relay: RunningRelay, mock: MockAgentModel, prompt: str) -> CliRun:
    key = relay.create_key("claude-code")
    run = claude.run(prompt, base_url=relay.url, key=key, model=ALIAS)
    assert run.returncode == 0, run.explain()
    assert mock.outbound() == [], f"tried to leave the machine: {mock.outbound()}"
    for request in mock.received:
        assert key not in str(request.headers)
    return run


def test_claude_code_answers_through_a_chat_upstream(
    claude_code: ClaudeCode, chat_relay: RunningRelay, agent_model: MockAgentModel
) -> None:
    run = ask(claude_code, chat_relay, agent_model, QUESTION)
    assert run.stdout.strip() == plain_answer(QUESTION)
    [request] = agent_model.requests_to("/v1/chat/completions")
    assert request.body["model"] == "agent-chat"
    assert request.body["stream"] is True
    roles = [m["role"] for m in request.body["messages"]]
    assert roles == ["system", "user"]  # the mid-conversation system turn joined the user's


def test_claude_code_agent_loop_through_a_chat_upstream(
    claude_code: ClaudeCode, chat_relay: RunningRelay, agent_model: MockAgentModel
) -> None:
    assert MARKER not in LOOP_PROMPT
    run = ask(claude_code, chat_relay, agent_model, LOOP_PROMPT)
    assert run.stdout.strip() == tool_answer(MARKER)
    first, second = agent_model.requests_to("/v1/chat/completions")
    assert "Bash" in [tool["function"]["name"] for tool in first.body["tools"]]
    call, result = second.body["messages"][-2:]
    [tool_call] = call["tool_calls"]
    assert tool_call["function"]["name"] == "Bash"
    assert (result["role"], result["tool_call_id"]) == ("tool", tool_call["id"])
    assert result["content"].startswith(MARKER)
    assert ledger_endpoints(chat_relay, 2) == ["messages", "messages"]


def ledger_endpoints(relay: RunningRelay, count: int) -> list[str]:
    """The `endpoint` of each ledger row, once there are `count` of them."""
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")

    def endpoints() -> list[str] | None:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT endpoint FROM usage_records")).scalars()
            found = list(rows)
        return found if len(found) >= count else None

    try:
        return wait_until(endpoints)
    finally:
        engine.dispose()
