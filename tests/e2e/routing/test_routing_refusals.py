"""Refusals: a prompt too long for the model, a content filter. Never retried on the same
model, never a health failure; they go to the model's fallbacks of their kind when it has any,
else the client gets the refusal as the upstream gave it (in OpenAI's shape).

The upstreams speak each vendor's real refusal: OpenAI's 400 `context_length_exceeded`,
Azure's 400 `content_filter`, a 200 whose answer the filter emptied, Anthropic's "prompt is
too long", Gemini's "exceeds the maximum number of tokens" and its blocked prompt (SAFETY).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningRelay
from tests.e2e.routing.helpers import (
    HELLO,
    ask,
    assert_openai_error,
    deployment,
    grown,
    post,
    provider,
    seen_by,
    totals,
    wait_idle,
)
from tests.mocks.anthropic_upstream import ANTHROPIC_KEY, MockAnthropic
from tests.mocks.fault_upstream import CONTEXT_LENGTH_ERROR, FAST_TIMEOUTS, FaultUpstream
from tests.mocks.gemini_upstream import GEMINI_KEY, MockGemini

MOCKS = ("a", "b", "big", "safe", "other")
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])


def relay_config(
    mocks: dict[str, FaultUpstream], anthropic: MockAnthropic, gemini: MockGemini
) -> dict[str, Any]:
    pair = {"deployments": [dep("a", 0), dep("b", 1)]}
    by_kind = {"default": ["other"], "context_length": ["big"], "content_filter": ["safe"]}
    too_long = {"context_length": ["big"]}
    filtered = {"content_filter": ["safe"]}
    return {
        "routing": {
            "backoff_seconds": 0.01,
            "breaker": {"failures": 2, "window_seconds": 60, "cooldown_seconds": 60},
        },
        "providers": {
            **{name: provider(mock) for name, mock in mocks.items()},
            "claude": vendor("anthropic", anthropic.base_url, ANTHROPIC_KEY),
            "gemini": vendor("gemini", gemini.base_url, GEMINI_KEY),
        },
        "models": {
            "small": {**pair, "fallbacks": by_kind},
            "plain": {**pair, "fallbacks": ["other"]},
            **{name: {"provider": name, "upstream_model": f"up-{name}"} for name in MOCKS[2:]},
            "claude-small": on("claude", "mock-too-long", too_long),
            "claude-plain": on("claude", "mock-too-long"),
            "gemini-small": on("gemini", "mock-error-too-long", too_long),
            "gemini-blocked": on("gemini", "mock-blocked", filtered),
            "gemini-blocked-plain": on("gemini", "mock-blocked"),
        },
    }


def dep(name: str, priority: int) -> dict[str, Any]:
    return {"provider": name, "upstream_model": f"up-{name}", "priority": priority}


def vendor(kind: str, base_url: str, key: str) -> dict[str, Any]:
    return {"type": kind, "base_url": base_url, "api_key": key, "timeouts": FAST_TIMEOUTS}


def on(vendor_name: str, upstream: str, fallbacks: Any = None) -> dict[str, Any]:
    model = {"provider": vendor_name, "upstream_model": upstream}
    return model | ({"fallbacks": fallbacks} if fallbacks else {})


@pytest.fixture(scope="module")
def vendors() -> Iterator[dict[str, Any]]:
    anthropic, gemini = MockAnthropic(), MockGemini()
    anthropic.start()
    gemini.start()
    yield {"anthropic": anthropic, "gemini": gemini}
    anthropic.stop()
    gemini.stop()


def assert_fresh(relay: RunningRelay, model: str, name: str) -> None:
    """The deployment that refused is no less healthy for it."""
    row = deployment(relay, model, name)
    assert (row["state"], row["consecutive_failures"]) == ("healthy", 0), row


# ---- refused, and a fallback of that kind answers ---------------------------------------------


@STREAM
@pytest.mark.parametrize(
    ("mode", "fallback"),
    [("context_length", "big"), ("content_filter", "safe"), ("filtered_answer", "safe")],
)
def test_a_refusal_goes_to_the_fallback_of_its_kind_at_once(
    relay: RunningRelay,
    client: openai.OpenAI,
    mocks: dict[str, FaultUpstream],
    mode: str,
    fallback: str,
    stream: bool,
) -> None:
    mocks["a"].mode = mode
    request_id, text, model = ask(client, "small", stream)
    assert (text, model) == ("echo: hello there", "small")
    assert seen_by(mocks, request_id) == ["a", fallback], "never b, never the default fallback"
    row = relay.ledger_row(request_id)
    answered = (row["status"], row["provider"], row["upstream_model"])
    assert answered == (200, fallback, f"up-{fallback}")
    assert_fresh(relay, "small", "a")
    wait_idle(*mocks.values())


@STREAM
@pytest.mark.parametrize("model", ["claude-small", "gemini-small"])
def test_anthropic_and_gemini_prompts_too_long_fall_back(
    relay: RunningRelay,
    client: openai.OpenAI,
    mocks: dict[str, FaultUpstream],
    vendors: dict[str, Any],
    model: str,
    stream: bool,
) -> None:
    vendor_mock = vendors["anthropic" if model.startswith("claude") else "gemini"]
    before = len(vendor_mock.received)
    request_id, text, answered_as = ask(client, model, stream)
    assert (text, answered_as) == ("echo: hello there", model)
    assert len(vendor_mock.received) == before + 1
    assert seen_by(mocks, request_id) == ["big"]
    assert relay.ledger_row(request_id)["provider"] == "big"


@STREAM
def test_a_gemini_blocked_prompt_falls_back(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream], stream: bool
) -> None:
    request_id, text, model = ask(client, "gemini-blocked", stream)
    assert (text, model) == ("echo: hello there", "gemini-blocked")
    assert seen_by(mocks, request_id) == ["safe"]
    assert relay.ledger_row(request_id)["provider"] == "safe"


def test_a_failing_fallback_answers_with_its_own_error(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    mocks["a"].mode, mocks["big"].mode = "context_length", "503"
    response = post(relay, api_key, "small")
    assert_openai_error(response, 503)
    assert seen_by(mocks, response.headers["x-request-id"]) == ["a", "big"]


# ---- refused, and no fallback of that kind: the refusal as it came -------------------------


@STREAM
def test_without_a_fallback_the_client_gets_openais_error_unchanged(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream], stream: bool
) -> None:
    mocks["a"].mode = "context_length"
    before = totals(mocks)
    response = post(relay, api_key, "plain", stream)
    assert response.status_code == 400
    assert response.json() == CONTEXT_LENGTH_ERROR
    assert grown(before, mocks) == {"a": 1}, "not b, not the default fallback"
    row = relay.ledger_row(response.headers["x-request-id"])
    assert (row["status"], row["provider"]) == (400, "a")


def test_anthropics_prompt_too_long_is_openais_error(relay: RunningRelay, api_key: str) -> None:
    error = assert_openai_error(post(relay, api_key, "claude-plain"), 400)
    assert error["message"] == "prompt is too long: 208656 tokens > 200000 maximum"
    assert (error["code"], error["param"], error["type"]) == (
        "context_length_exceeded",
        "messages",
        "invalid_request_error",
    )


def test_a_content_filter_error_without_fallback_is_answered_at_once(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    mocks["a"].mode = "content_filter"
    before = totals(mocks)
    error = assert_openai_error(post(relay, api_key, "plain"), 400)
    assert error["code"] == "content_filter" and "content management policy" in error["message"]
    assert grown(before, mocks) == {"a": 1}


@STREAM
def test_a_filtered_answer_without_fallback_is_the_answer(
    client: openai.OpenAI, mocks: dict[str, FaultUpstream], stream: bool
) -> None:
    mocks["a"].mode = "filtered_answer"
    before = totals(mocks)
    for model in ("plain", "gemini-blocked-plain"):
        completion = client.chat.completions.create(model=model, messages=HELLO, stream=stream)
        if stream:
            choices = [c for chunk in completion for c in chunk.choices]
            finish = [c.finish_reason for c in choices if c.finish_reason]
            assert finish == ["content_filter"]
            assert not "".join(c.delta.content or "" for c in choices)
        else:
            choice = completion.choices[0]
            assert (choice.finish_reason, choice.message.content) == ("content_filter", None)
    assert grown(before, mocks) == {"a": 1}, "the refusal is the answer: nothing else is tried"


@pytest.mark.parametrize("mode", ["context_length", "content_filter", "filtered_answer"])
def test_refusals_are_not_health_failures(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream], mode: str
) -> None:
    """The breaker opens after 2 failures here; 4 refusals leave the deployment healthy."""
    mocks["a"].mode = mode
    for _ in range(4):
        response = post(relay, api_key, "plain")
        assert response.status_code == (200 if mode == "filtered_answer" else 400)
    assert_fresh(relay, "plain", "a")
