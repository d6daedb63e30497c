"""Claude's extended thinking through the relay with the openai SDK, against the mock
Anthropic Messages API: budgets, reasoning content and thinking blocks, streamed and whole,
sent back with tool results, and counted in the ledger.

Fixtures and helpers are shared with test_anthropic.py through anthropic_fixtures.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import RunningRelay
from tests.e2e import anthropic_fixtures as shared
from tests.e2e.anthropic_fixtures import (
    TOOLS,
    accumulate,
    answer_of,
    ask,
    chunks_of,
    raw_frames,
    tool_turn,
    user,
)
from tests.mocks.anthropic_upstream import REDACTED, SIGNATURE, MockAnthropic

# The same fixtures in every Anthropic module (one mock and one relay per module).
mock, claude_relay, key, claude = shared.mock, shared.claude_relay, shared.key, shared.claude


THOUGHT = {"type": "thinking", "thinking": "The user wrote: think hard", "signature": SIGNATURE}


@pytest.mark.parametrize(
    ("model", "kwargs", "budget", "max_tokens"),
    [
        ("claude-sonnet-4-6", {"reasoning_effort": "high"}, 4096, 8192),
        (
            "claude-sonnet-4-6",
            {"reasoning_effort": "low", "max_completion_tokens": 5000},
            1024,
            5000,
        ),
        ("claude-sonnet-4-6-thinking-8000", {}, 8000, 12096),
        ("claude-sonnet-4-6-thinking-100", {}, 1024, 4096),
        ("claude-sonnet-4-6-high", {}, 4096, 8192),
        ("claude-sonnet-4-6-thinking", {}, 2048, 4096),
        ("claude-budget-high", {}, 6000, 10096),
        ("claude-sonnet-4-6-low", {"reasoning_effort": "high"}, 1024, 4096),
        (
            "claude-sonnet-4-6",
            {"extra_body": {"thinking": {"type": "enabled", "budget_tokens": 3000}}},
            3000,
            4096,
        ),
    ],
)
def test_reasoning(claude, mock: MockAnthropic, model: str, kwargs, budget, max_tokens) -> None:
    completion = ask(claude, model, "think hard", temperature=0.2, top_p=0.5, **kwargs)
    body = mock.last().body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == max_tokens
    assert body["temperature"] == 1.0 and "top_p" not in body
    assert completion.model == model
    answer = answer_of(completion)
    assert answer["reasoning_content"] == THOUGHT["thinking"]
    assert answer["thinking_blocks"] == [THOUGHT]
    assert answer["content"] == "echo: think hard"


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("claude-sonnet-4-6-nothinking", {"reasoning_effort": "high"}),
        ("claude-haiku-4-5", {"reasoning_effort": "high"}),
        ("claude-sonnet-4-6", {"reasoning_effort": "none"}),
        ("claude-sonnet-4-6", {}),
    ],
)
def test_no_reasoning(claude, mock: MockAnthropic, model: str, kwargs: dict) -> None:
    completion = ask(claude, model, "think hard", temperature=0.2, top_p=0.5, **kwargs)
    body = mock.last().body
    assert "thinking" not in body and body["temperature"] == 0.2 and body["top_p"] == 0.5
    assert answer_of(completion)["reasoning_content"] is None


def test_thinking_streamed_equals_whole(claude, claude_relay, key, mock) -> None:
    kwargs = {"text": "think and redact", "reasoning_effort": "medium"}
    whole = ask(claude, **kwargs)
    assert whole.choices[0].message.model_dump()["thinking_blocks"] == [
        {**THOUGHT, "thinking": "The user wrote: think and redact"},
        {"type": "redacted_thinking", "data": REDACTED},
    ]
    assert answer_of(accumulate(claude, **kwargs)) == answer_of(whole)
    body = {"model": "claude-sonnet-4-6", "stream": True, "messages": user("think and redact")}
    body |= {"reasoning_effort": "medium", "stream_options": {"include_usage": True}}
    chunks = chunks_of(raw_frames(claude_relay, key, body))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    first_reasoning = next(i for i, d in enumerate(deltas) if d.get("reasoning_content"))
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert first_reasoning < first_content
    [with_blocks] = [i for i, d in enumerate(deltas) if "thinking_blocks" in d]
    assert with_blocks == len(deltas) - 2 and deltas[-1] == {}
    thought = len("The user wrote: think and redact")
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == -(-thought // 4)
    assert chunks[-1]["usage"] == whole.usage.model_dump(exclude_none=True)


def test_thinking_blocks_come_back_for_tool_use(claude, mock: MockAnthropic) -> None:
    first = ask(claude, "claude-tools", "weather, redact", tools=TOOLS, reasoning_effort="low")
    assistant = first.choices[0].message.model_dump(exclude_none=True)
    tool_results = tool_turn()[2:]
    messages = [*user("weather, redact"), assistant, *tool_results]
    second = ask(claude, "claude-tools", messages=messages, tools=TOOLS, reasoning_effort="low")
    assert second.choices[0].message.content == "results: sunny; 12:00"
    body = mock.last().body
    assert body["thinking"]["type"] == "enabled"
    assert body["messages"][1]["content"][:2] == [
        {**THOUGHT, "thinking": "The user wrote: weather, redact"},
        {"type": "redacted_thinking", "data": REDACTED},
    ]
    # A client that dropped the blocks still gets an answer: the relay stops thinking there.
    ask(claude, "claude-tools", messages=tool_turn(), tools=TOOLS, reasoning_effort="low")
    assert "thinking" not in mock.last().body


def test_ledger_counts_cache_and_reasoning(claude, claude_relay: RunningRelay) -> None:
    raw = claude.chat.completions.with_raw_response.create(
        model="claude-sonnet-4-6-low", messages=user("think hard")
    )
    usage = raw.parse().usage
    row = claude_relay.ledger_row(raw.headers["x-request-id"])
    assert row["provider"] == "anthropic" and row["upstream_model"] == "claude-sonnet-4-6"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert row["cached_tokens"] == 4
    assert row["reasoning_tokens"] == -(-len(THOUGHT["thinking"]) // 4) > 0
