"""OpenTelemetry traces: a real relay with `tracing.otlp_endpoint` pointing at a local OTLP/HTTP
receiver, in front of a mock OpenAI upstream. The spans the receiver decodes must form the
request's tree (request -> gate steps and routing attempts -> upstream calls), continue the
client's W3C trace, and hand it on upstream in `traceparent`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import (
    ADMIN,
    ADMIN_KEY,
    RunningRelay,
    start_relay,
    stop_relay,
    wait_until,
)
from tests.mocks.anthropic_upstream import ANTHROPIC_KEY, MockAnthropic
from tests.mocks.openai_upstream import MockOpenAI
from tests.mocks.otlp_receiver import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_SERVER,
    STATUS_ERROR,
    OTLPReceiver,
    ReceivedSpan,
)

PRICE = {"input": 2.0, "output": 8.0}
HELLO = [{"role": "user", "content": "Say hello to the tracer"}]


def traced_config(
    mock: MockOpenAI, anthropic: MockAnthropic, receiver: OTLPReceiver
) -> dict[str, Any]:
    provider = {"type": "openai", "base_url": mock.base_url, "api_key": "${MOCK_UPSTREAM_KEY}"}
    claude = {"type": "anthropic", "base_url": anthropic.base_url, "api_key": ANTHROPIC_KEY}
    return {
        "tracing": {"otlp_endpoint": receiver.traces_url, "service_name": "relay-under-test"},
        "providers": {"mock": provider, "claude": claude},
        "models": {
            "claude-sonnet": {"provider": "claude", "upstream_model": "mock-echo"},
            "gpt-5": {"provider": "mock", "upstream_model": "mock-echo", "price": PRICE},
            "failover": {
                "deployments": [
                    {"provider": "mock", "upstream_model": "mock-500", "priority": 0},
                    {"provider": "mock", "upstream_model": "mock-echo", "priority": 1},
                ],
                "price": PRICE,
            },
        },
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockOpenAI]:
    mock = MockOpenAI()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def anthropic_upstream() -> Iterator[MockAnthropic]:
    mock = MockAnthropic()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    collector = OTLPReceiver()
    collector.start()
    yield collector
    collector.stop()


@pytest.fixture(scope="module")
def traced_relay(
    upstream: MockOpenAI,
    anthropic_upstream: MockAnthropic,
    receiver: OTLPReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningRelay]:
    running = start_relay(
        traced_config(upstream, anthropic_upstream, receiver),
        tmp_path_factory.mktemp("traced"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
        OTEL_BSP_SCHEDULE_DELAY="100",  # the SDK's batch interval (ms): spans arrive quickly
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def limited_key(traced_relay: RunningRelay) -> dict[str, Any]:
    """A key with a rate limit and a budget, so that every gate step runs."""
    response = httpx.post(
        traced_relay.url + "/admin/keys",
        json={"name": "traced-" + secrets.token_hex(3), "rpm": 1000, "budget_usd": 50},
        headers=ADMIN,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def client_traceparent() -> tuple[str, str, str]:
    """A client's own trace: (trace id, its span id, the `traceparent` header)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def finished_trace(receiver: OTLPReceiver, request_id: str) -> list[ReceivedSpan]:
    """Every span of the request's trace, once the request's own span (the last to end,
    and so the last exported) has arrived."""
    request = wait_until(lambda: receiver.request_span(request_id))
    return receiver.trace(request.trace_id)


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return sorted(
        (span for span in spans if span.parent_span_id == parent.span_id),
        key=lambda span: span.start,
    )


def only(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    named = [span for span in spans if span.name == name]
    assert len(named) == 1, [span.name for span in spans]
    return named[0]


def sent_with(upstream: MockOpenAI | MockAnthropic, trace_id: str) -> list[str]:
    """The parent span ids that upstream requests carrying `trace_id` in their W3C
    `traceparent` (`00-{trace id}-{parent id}-{flags}`) named."""
    parents = []
    for request in upstream.received:
        version, trace, parent, flags = (request.headers.get("traceparent") or "---").split("-")
        if trace == trace_id:
            assert version == "00" and int(flags, 16) & 1  # sampled
            parents.append(parent)
    return parents


def test_a_request_is_one_span_tree_continuing_the_clients_trace(
    traced_relay: RunningRelay,
    limited_key: dict[str, Any],
    receiver: OTLPReceiver,
    upstream: MockOpenAI,
) -> None:
    trace_id, client_span, traceparent = client_traceparent()
    with openai.OpenAI(
        base_url=traced_relay.base_url, api_key=limited_key["key"], max_retries=0
    ) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-5", messages=HELLO, max_tokens=20, extra_headers={"traceparent": traceparent}
        )
    reply = raw.parse()
    spans = finished_trace(receiver, raw.headers["x-request-id"])

    request = only(spans, "POST /v1/chat/completions")
    assert request.trace_id == trace_id and request.parent_span_id == client_span
    assert request.kind == SPAN_KIND_SERVER
    assert request.resource["service.name"] == "relay-under-test"
    attributes = request.attributes
    assert attributes["llmrelay.door"] == "chat"
    assert attributes["gen_ai.request.model"] == "gpt-5"
    assert attributes["llmrelay.key_id"] == limited_key["id"]
    assert attributes["http.response.status_code"] == 200
    assert attributes["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert attributes["llmrelay.cost_usd"] == pytest.approx(
        float(raw.headers["x-llmrelay-cost-usd"])
    )
    assert limited_key["key"] not in repr([span.attributes for span in spans])

    steps = [span.name for span in children(spans, request)]
    assert steps == ["gate.auth", "gate.limits", "gate.budget", "routing.attempt"]
    attempt = only(spans, "routing.attempt")
    assert attempt.attributes["llmrelay.outcome"] == "answered"
    assert attempt.attributes["llmrelay.attempt.kind"] == "first"
    assert attempt.attributes["llmrelay.deployment"] == "mock/mock-echo"
    (call,) = children(spans, attempt)
    assert call.kind == SPAN_KIND_CLIENT and call.name == "upstream mock"
    assert call.attributes["gen_ai.request.model"] == "mock-echo"
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["server.address"] == "127.0.0.1"

    assert sent_with(upstream, trace_id) == [call.span_id]


def test_a_stream_keeps_its_upstream_span_open_until_the_last_chunk(
    traced_relay: RunningRelay, limited_key: dict[str, Any], receiver: OTLPReceiver
) -> None:
    _, _, traceparent = client_traceparent()
    with httpx.stream(
        "POST",
        traced_relay.base_url + "/chat/completions",
        json={"model": "gpt-5", "messages": HELLO, "stream": True},
        headers={"authorization": f"Bearer {limited_key['key']}", "traceparent": traceparent},
        timeout=30,
    ) as response:
        text = "".join(response.iter_text())
        request_id = response.headers["x-request-id"]
    assert text.rstrip().endswith("data: [DONE]")
    spans = finished_trace(receiver, request_id)
    request = only(spans, "POST /v1/chat/completions")
    attempt = only(spans, "routing.attempt")
    call = only(spans, "upstream mock")
    assert request.attributes["llmrelay.stream"] is True
    assert request.attributes["gen_ai.usage.output_tokens"] > 0
    assert attempt.end <= call.end <= request.end  # the attempt ends at the first token


def test_a_failover_is_two_attempts_each_with_its_upstream_call(
    traced_relay: RunningRelay,
    limited_key: dict[str, Any],
    receiver: OTLPReceiver,
    upstream: MockOpenAI,
) -> None:
    trace_id, _, traceparent = client_traceparent()
    response = httpx.post(
        traced_relay.base_url + "/chat/completions",
        json={"model": "failover", "messages": HELLO},
        headers={"authorization": f"Bearer {limited_key['key']}", "traceparent": traceparent},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    spans = finished_trace(receiver, response.headers["x-request-id"])
    request = only(spans, "POST /v1/chat/completions")
    first, second = (span for span in children(spans, request) if span.name == "routing.attempt")

    assert first.attributes["llmrelay.attempt"] == 1
    assert first.attributes["llmrelay.deployment"] == "mock/mock-500"
    assert first.attributes["llmrelay.outcome"] == "5xx"
    assert first.status_code == STATUS_ERROR
    (failed_call,) = children(spans, first)
    assert failed_call.attributes["http.response.status_code"] == 500
    assert failed_call.status_code == STATUS_ERROR

    assert second.attributes["llmrelay.attempt"] == 2
    assert second.attributes["llmrelay.attempt.kind"] == "retry"
    assert second.attributes["llmrelay.deployment"] == "mock/mock-echo"
    assert second.attributes["llmrelay.outcome"] == "answered"
    (answered_call,) = children(spans, second)
    assert answered_call.attributes["http.response.status_code"] == 200
    assert request.attributes["http.response.status_code"] == 200

    assert sent_with(upstream, trace_id) == [failed_call.span_id, answered_call.span_id]


def test_without_a_traceparent_the_relay_starts_the_trace_and_hands_it_on(
    traced_relay: RunningRelay,
    limited_key: dict[str, Any],
    receiver: OTLPReceiver,
    upstream: MockOpenAI,
) -> None:
    response = httpx.post(
        traced_relay.base_url + "/chat/completions",
        json={"model": "gpt-5", "messages": HELLO},
        headers={"authorization": f"Bearer {limited_key['key']}"},
        timeout=30,
    )
    assert response.status_code == 200
    spans = finished_trace(receiver, response.headers["x-request-id"])
    request = only(spans, "POST /v1/chat/completions")
    assert request.parent_span_id == ""
    call = only(spans, "upstream mock")
    assert sent_with(upstream, request.trace_id) == [call.span_id]


def test_a_refused_key_ends_at_the_auth_step(
    traced_relay: RunningRelay, receiver: OTLPReceiver
) -> None:
    response = httpx.post(
        traced_relay.base_url + "/chat/completions",
        json={"model": "gpt-5", "messages": HELLO},
        headers={"authorization": "Bearer sk-not-a-key-of-this-relay-000000000000000000"},
        timeout=30,
    )
    assert response.status_code == 401
    spans = finished_trace(receiver, response.headers["x-request-id"])
    request = only(spans, "POST /v1/chat/completions")
    assert [span.name for span in children(spans, request)] == ["gate.auth"]
    auth = only(spans, "gate.auth")
    assert auth.status_code == STATUS_ERROR
    assert auth.attributes["error.type"] == "invalid_api_key"
    assert request.attributes["http.response.status_code"] == 401
    assert "llmrelay.key_id" not in request.attributes
    assert "sk-not-a-key" not in repr([span.attributes for span in spans])


def test_a_trace_the_client_did_not_sample_is_handed_on_unsampled_and_not_recorded(
    traced_relay: RunningRelay,
    limited_key: dict[str, Any],
    receiver: OTLPReceiver,
    upstream: MockOpenAI,
) -> None:
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    headers = {"authorization": f"Bearer {limited_key['key']}"}
    body = {"model": "gpt-5", "messages": HELLO}
    unsampled = httpx.post(
        traced_relay.base_url + "/chat/completions",
        json=body,
        headers={**headers, "traceparent": f"00-{trace_id}-{client_span}-00"},
        timeout=30,
    )
    assert unsampled.status_code == 200
    (sent,) = [r.headers["traceparent"] for r in upstream.received if trace_id in str(r.headers)]
    assert sent.startswith(f"00-{trace_id}-") and sent.endswith("-00")
    # Spans are exported in the order they end: once a later request's span has arrived, an
    # earlier one's would have too.
    sampled = httpx.post(
        traced_relay.base_url + "/chat/completions", json=body, headers=headers, timeout=30
    )
    finished_trace(receiver, sampled.headers["x-request-id"])
    assert receiver.request_span(unsampled.headers["x-request-id"]) is None
    assert receiver.trace(trace_id) == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_pass_through_hands_the_trace_on_too(
    stream: bool,
    traced_relay: RunningRelay,
    limited_key: dict[str, Any],
    receiver: OTLPReceiver,
    anthropic_upstream: MockAnthropic,
) -> None:
    """The Messages door to an Anthropic upstream: the body passes through untranslated,
    whole or streamed on the relay's own client, and `traceparent` goes with it."""
    trace_id, client_span, traceparent = client_traceparent()
    response = httpx.post(
        traced_relay.url + "/v1/messages",
        json={"model": "claude-sonnet", "max_tokens": 16, "messages": HELLO, "stream": stream},
        headers={
            "x-api-key": limited_key["key"],
            "anthropic-version": "2023-06-01",
            "traceparent": traceparent,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    spans = finished_trace(receiver, response.headers["x-request-id"])
    request = only(spans, "POST /v1/messages")
    assert request.parent_span_id == client_span
    assert request.attributes["llmrelay.door"] == "messages"
    call = only(spans, "upstream claude")
    assert call.attributes["llmrelay.provider.type"] == "anthropic"
    assert sent_with(anthropic_upstream, trace_id) == [call.span_id]
