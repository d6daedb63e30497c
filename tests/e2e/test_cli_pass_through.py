"""Claude Code and Codex through the relay to an upstream that speaks their own protocol: the
Messages door to an `anthropic` provider, the Responses door to an OpenAI provider with
`responses: true`. The client's body reaches the upstream untouched but for `model`, with
the protocol's headers and the relay's upstream key (never the client's), and the answer
comes back as the upstream sent it; the agent loop runs as it does against the vendor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients import fixtures
from tests.clients.harness import ClaudeCode, Codex
from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.mocks.agent_upstream import MockAgentModel, plain_answer, tool_answer

pytestmark = pytest.mark.clis

agent_model, claude_code, codex = fixtures.agent_model, fixtures.claude_code, fixtures.codex

UPSTREAM_KEY = "sk-ant-upstream-passthrough-0123456789abcdef"
QUESTION = "What is the capital of France?"
COMMAND = "echo relay-marker-$((1200+34))"
MARKER = "relay-marker-1234"
LOOP_PROMPT = f"Please run `{COMMAND}` and tell me what it printed."
CLAUDE_MODEL, CLAUDE_UPSTREAM = "claude-relay-test", "claude-upstream-name"
CODEX_MODEL, CODEX_UPSTREAM = "gpt-relay-test", "gpt-upstream-name"


@pytest.fixture
def relay(agent_model: MockAgentModel, tmp_path: Path) -> Iterator[RunningRelay]:
    config = {
        "providers": {
            "claude": {"type": "anthropic", "base_url": agent_model.url, "api_key": UPSTREAM_KEY},
            "gpt": {
                "type": "openai",
                "base_url": agent_model.url + "/v1",
                "api_key": UPSTREAM_KEY,
                "responses": True,
            },
        },
        "models": {
            CLAUDE_MODEL: {"provider": "claude", "upstream_model": CLAUDE_UPSTREAM},
            CODEX_MODEL: {"provider": "gpt", "upstream_model": CODEX_UPSTREAM},
        },
    }
    running = start_relay(config, tmp_path / "relay", LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


@pytest.fixture
def key(relay: RunningRelay) -> str:
    return relay.create_key("cli-pass-through")


def passed_through(request, key: str) -> None:
    """The upstream got the relay's key, never the client's."""
    headers = request.headers
    assert key not in str(headers)
    assert UPSTREAM_KEY in (headers.get("x-api-key", "") + headers.get("authorization", ""))


def test_claude_code_through_the_messages_pass_through(
    claude_code: ClaudeCode, agent_model: MockAgentModel, relay: RunningRelay, key: str
) -> None:
    run = claude_code.run(QUESTION, base_url=relay.url, key=key, model=CLAUDE_MODEL)
    assert run.returncode == 0, run.explain()
    assert run.stdout.strip() == plain_answer(QUESTION)
    [request] = agent_model.requests_to("/v1/messages")
    passed_through(request, key)
    assert request.body["model"] == CLAUDE_UPSTREAM
    assert "context_management" in request.body  # a field the relay does not know, kept
    assert "claude-code" in request.headers.get("anthropic-beta", "")


def test_claude_code_agent_loop_through_the_messages_pass_through(
    claude_code: ClaudeCode, agent_model: MockAgentModel, relay: RunningRelay, key: str
) -> None:
    run = claude_code.run(LOOP_PROMPT, base_url=relay.url, key=key, model=CLAUDE_MODEL)
    assert run.returncode == 0, run.explain()
    assert run.stdout.strip() == tool_answer(MARKER)
    _first, second = agent_model.requests_to("/v1/messages")
    [result] = second.body["messages"][-1]["content"]
    assert (result["type"], result["content"]) == ("tool_result", MARKER)
    rows = relay_rows(relay)
    assert {(row["endpoint"], row["model"], row["status"]) for row in rows} == {
        ("messages", CLAUDE_MODEL, 200)
    }
    assert all(row["completion_tokens"] > 0 and not row["usage_estimated"] for row in rows)


def test_codex_agent_loop_through_the_responses_pass_through(
    codex: Codex, agent_model: MockAgentModel, relay: RunningRelay, key: str
) -> None:
    run = codex.run(LOOP_PROMPT, base_url=relay.url + "/v1", key=key, model=CODEX_MODEL)
    assert run.returncode == 0, run.explain()
    assert run.stdout.strip().endswith(MARKER)
    first, second = agent_model.requests_to("/v1/responses")
    passed_through(first, key)
    assert first.body["model"] == CODEX_UPSTREAM
    assert first.body["store"] is False and "client_metadata" in first.body
    call, output = second.body["input"][-2:]
    assert (call["name"], output["call_id"]) == ("exec_command", call["call_id"])


def relay_rows(relay: RunningRelay) -> list[dict]:
    import httpx

    from tests.conftest import ADMIN, wait_until

    def rows() -> list[dict] | None:
        data = httpx.get(relay.url + "/admin/requests", headers=ADMIN).json()["data"]
        return data if len(data) >= 2 else None

    return wait_until(rows, timeout=15)
