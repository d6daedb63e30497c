"""Fallbacks by refusal kind, with fake providers (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmrelay.config import RoutingConfig
from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.providers.base import ChunkStream, UpstreamError
from llmrelay.routing.catalog import Deployment, ModelEntry
from llmrelay.routing.fallbacks import refused_answer
from llmrelay.routing.router import Router
from llmrelay.wire.stream import PrimedStream
from tests.routing.test_router import deployment, entry

TOO_LONG = UpstreamError(
    400,
    "This model's maximum context length is 8192 tokens.",
    type="invalid_request_error",
    param="messages",
    code="context_length_exceeded",
    upstream_status=400,
)
FILTERED = UpstreamError(
    400, "The response was filtered.", code="content_filter", upstream_status=400
)


def refusing(model: ModelEntry, kind: str, *targets: ModelEntry) -> ModelEntry:
    model.refusal_fallbacks[kind] = list(targets)
    return model


def router(max_attempts: int = 4) -> Router:
    return Router(RoutingConfig(max_attempts=max_attempts, backoff_seconds=0))


class Script:
    """Each provider name answers with a fixed outcome; calls are recorded in order."""

    def __init__(self, **outcomes: Any) -> None:
        self.outcomes = outcomes
        self.seen: list[str] = []

    async def __call__(self, d: Deployment) -> Any:
        self.seen.append(d.provider.name)
        outcome = self.outcomes.get(d.provider.name, "answer")
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.mark.parametrize(
    ("kind", "error"), [("context_length", TOO_LONG), ("content_filter", FILTERED)]
)
async def test_a_refusal_goes_to_its_own_fallbacks_at_once(kind: str, error: UpstreamError) -> None:
    big, other = entry(deployment("big")), entry(deployment("other"))
    model = refusing(entry(deployment("a"), deployment("b"), fallbacks=[other]), kind, big)
    script = Script(a=error, b=error)
    assert await router().run(model, script) == "answer"
    assert len(script.seen) == 2 and script.seen[1] == "big", "never the same model's b"
    first = next(d for d in model.deployments if d.provider.name == script.seen[0])
    assert first.breaker.consecutive_failures == 0 and first.breaker.state == "healthy"


async def test_without_fallbacks_of_its_kind_the_refusal_is_answered_unchanged() -> None:
    other = entry(deployment("other"))
    model = refusing(
        entry(deployment("a"), deployment("b"), fallbacks=[other]), "content_filter", other
    )
    script = Script(a=TOO_LONG, b=TOO_LONG)
    with pytest.raises(UpstreamError) as caught:
        await router().run(model, script)
    assert caught.value is TOO_LONG
    assert len(script.seen) == 1, "a refusal is never retried, nor sent to default fallbacks"


async def test_the_fallbacks_of_a_kind_are_tried_in_order_while_they_refuse() -> None:
    big, bigger = entry(deployment("big")), entry(deployment("bigger"))
    model = refusing(entry(deployment("a")), "context_length", big, bigger)
    script = Script(a=TOO_LONG, big=TOO_LONG, bigger="bigger answer")
    assert await router().run(model, script) == "bigger answer"
    assert script.seen == ["a", "big", "bigger"]


async def test_a_failing_fallback_answers_with_its_own_error() -> None:
    big = entry(deployment("big"))
    model = refusing(entry(deployment("a")), "context_length", big)
    outage = UpstreamError(503, "overloaded", code="upstream_overloaded")
    with pytest.raises(UpstreamError) as caught:
        await router().run(model, Script(a=TOO_LONG, big=outage))
    assert caught.value is outage


async def test_a_resting_fallback_leaves_the_refusal_as_it_was() -> None:
    big = entry(deployment("big"))
    for _ in range(3):
        big.deployments[0].breaker.failed()
    model = refusing(entry(deployment("a")), "context_length", big)
    script = Script(a=TOO_LONG)
    with pytest.raises(UpstreamError) as caught:
        await router().run(model, script)
    assert caught.value is TOO_LONG and script.seen == ["a"]


async def test_the_attempt_budget_still_holds() -> None:
    big = entry(deployment("big"))
    model = refusing(entry(deployment("a")), "context_length", big)
    script = Script(a=TOO_LONG)
    with pytest.raises(UpstreamError) as caught:
        await router(max_attempts=1).run(model, script)
    assert caught.value is TOO_LONG and script.seen == ["a"]


async def test_the_local_models_refusal_falls_back_too() -> None:
    big = entry(deployment("big"))
    model = refusing(entry(deployment("local")), "context_length", big)
    local = invalid_request("2100 tokens > 2048", param="messages", code="context_length_exceeded")
    script = Script(local=local)
    assert await router().run(model, script) == "answer"
    assert script.seen == ["local", "big"]


async def test_other_client_errors_are_still_answered_at_once() -> None:
    big = entry(deployment("big"))
    model = refusing(entry(deployment("a"), deployment("b")), "context_length", big)
    bad = RelayError(400, "Invalid value for 'logit_bias'.", code="invalid_value")
    with pytest.raises(RelayError) as caught:
        await router().run(model, Script(a=bad, b=bad))
    assert caught.value is bad


def blocked_completion() -> dict[str, Any]:
    message = {"role": "assistant", "content": None, "refusal": None}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "content_filter"}]}


class FakeStream:
    def __init__(self, first: list[dict[str, Any]]) -> None:
        self.first_batch = first
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_a_bare_content_filter_answer_falls_back() -> None:
    safe = entry(deployment("safe"))
    model = refusing(entry(deployment("a")), "content_filter", safe)
    script = Script(a=blocked_completion())
    assert await router().run(model, script) == "answer"
    assert script.seen == ["a", "safe"]


async def test_a_bare_content_filter_stream_is_closed_and_falls_back() -> None:
    safe = entry(deployment("safe"))
    model = refusing(entry(deployment("a")), "content_filter", safe)
    refused = FakeStream([chunk({"role": "assistant", "content": ""}), chunk({}, "content_filter")])
    assert await router().run(model, Script(a=refused)) == "answer"
    assert refused.closed


async def test_a_bare_content_filter_answer_without_fallbacks_is_the_answer() -> None:
    model = entry(deployment("a"))
    answer = blocked_completion()
    assert await router().run(model, Script(a=answer)) is answer


def test_only_a_bare_refusal_counts() -> None:
    assert refused_answer(blocked_completion()) == "content_filter"
    cut = blocked_completion()
    cut["choices"][0]["message"]["content"] = "Here is half of"
    assert refused_answer(cut) is None
    stopped = blocked_completion()
    stopped["choices"][0]["finish_reason"] = "stop"
    assert refused_answer(stopped) is None
    assert (
        refused_answer(FakeStream([chunk({"content": "hi"}), chunk({}, "content_filter")])) is None
    )
    assert refused_answer(FakeStream([chunk({"role": "assistant"})])) is None
    assert refused_answer("text") is None


class Batches(ChunkStream):
    """An upstream stream that yields the given batches, then ends (or hangs)."""

    def __init__(self, *batches: list[dict[str, Any]], hang: bool = False) -> None:
        self._batches = batches
        self.hang = hang

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        for batch in self._batches:
            yield batch
        if self.hang:
            await asyncio.Event().wait()

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for batch in self.batches():
            for item in batch:
                yield item

    async def aclose(self) -> None:
        pass


async def test_priming_reads_past_a_role_only_batch_to_the_refusal() -> None:
    role, finish = chunk({"role": "assistant", "content": ""}), chunk({}, "content_filter")
    primed = PrimedStream(Batches([role], [finish]))
    await primed.prime(1.0, "up")
    assert primed.first_batch == [role, finish]
    assert refused_answer(primed) == "content_filter"
    assert [c async for c in primed] == [role, finish]


async def test_a_role_only_stream_that_goes_silent_is_a_first_token_timeout() -> None:
    primed = PrimedStream(Batches([chunk({"role": "assistant"})], hang=True))
    with pytest.raises(UpstreamError) as caught:
        await primed.prime(0.05, "up")
    assert caught.value.code == "upstream_timeout"
