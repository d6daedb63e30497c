"""Faults once bytes have flowed, broken bodies, usage where it hides, per-model timeouts.

After the first byte reaches the client nothing is retried: the client gets a
`data: {"error": ...}` frame and a clean close, the upstream connection is let go, and the
ledger keeps one row for what happened.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import RunningRelay
from tests.e2e.routing.helpers import (
    HELLO,
    ask,
    assert_openai_error,
    grown,
    post,
    provider,
    seen_by,
    totals,
    wait_idle,
)
from tests.e2e.routing.resources import assert_within_pool
from tests.mocks.fault_upstream import FAST_TIMEOUTS, FaultUpstream
from tests.mocks.openai_upstream import answer_words, usage_for

IDLE = FAST_TIMEOUTS["idle"]
MOCKS = ("a", "b")


def relay_config(mocks: dict[str, FaultUpstream]) -> dict[str, Any]:
    a = {"provider": "a", "upstream_model": "up-a", "priority": 0}
    b = {"provider": "b", "upstream_model": "up-b", "priority": 1}
    return {
        "routing": {"backoff_seconds": 0.01, "breaker": {"failures": 1000}},
        "providers": {name: provider(mock) for name, mock in mocks.items()},
        "models": {
            "duo": {"deployments": [a, b]},
            "solo": {"deployments": [a]},
            "patient": {"deployments": [a, b], "timeouts": {"first_token": 5}},
            "impatient": {"deployments": [a, b], "timeouts": {"first_token": 0.4}},
        },
    }


def stream_lines(
    relay: RunningRelay, api_key: str, model: str, **extra: Any
) -> tuple[httpx.Response, list[str], float]:
    """POST a streamed request and read it to its end: (response, non-empty lines, seconds)."""
    started = time.monotonic()
    with httpx.stream(
        "POST",
        relay.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {api_key}"},
        json={"model": model, "messages": HELLO, "stream": True, **extra},
        timeout=30,
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    return response, lines, time.monotonic() - started


def data(lines: list[str]) -> list[Any]:
    return [orjson.loads(line[6:]) for line in lines if line.startswith("data: {")]


MID_STREAM = {
    "hang_mid_stream": "upstream_timeout",
    "reset_mid_stream": "upstream_stream_cut",
    "malformed_sse": "upstream_malformed",
}


@pytest.mark.parametrize("fault", MID_STREAM)
def test_a_failure_after_the_first_byte_is_an_sse_error_frame(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream], fault: str
) -> None:
    a, b = mocks["a"], mocks["b"]
    a.mode = fault
    before = totals(mocks)
    response, lines, elapsed = stream_lines(relay, api_key, "duo")

    assert response.status_code == 200
    assert elapsed < IDLE + 3, f"the stream ended {elapsed:.1f} s after it began"
    assert "data: [DONE]" not in lines
    frames = data(lines)
    error = frames[-1]["error"]
    assert set(error) == {"message", "type", "param", "code"}
    delivered = "".join(c["choices"][0]["delta"].get("content") or "" for c in frames[:-1])
    assert delivered == "echo:"
    assert all(c["model"] == "duo" for c in frames[:-1])
    assert grown(before, mocks) == {"a": 1}, "nothing is retried once bytes have flowed"
    wait_idle(a, b)

    row = relay.ledger_row(response.headers["x-request-id"])
    assert (row["status"], row["provider"], row["upstream_model"]) == (200, "a", "up-a")
    assert row["error_code"] == error["code"] == MID_STREAM[fault]
    assert not row["client_disconnected"]
    assert row["completion_tokens"] >= 1, "what was delivered before the cut is billed"


def test_the_sdk_raises_on_a_failure_after_the_first_byte(
    client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    mocks["a"].mode = "reset_mid_stream"
    stream = client.chat.completions.create(model="duo", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    wait_idle(*mocks.values())


def test_malformed_json_is_an_error_not_a_hang(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    a = mocks["a"]
    a.mode = "malformed_json"
    started = time.monotonic()
    whole = post(relay, api_key, "solo")
    assert_openai_error(whole, 502)
    assert relay.ledger_row(whole.headers["x-request-id"])["status"] == 502

    response, lines, _ = stream_lines(relay, api_key, "solo")
    if response.status_code == 200:  # the relay had committed to a stream: an error frame
        assert "error" in data(lines)[-1] and "data: [DONE]" not in lines
    else:
        assert response.status_code == 502
        assert orjson.loads(lines[0])["error"]["message"]
    assert time.monotonic() - started < 2 * IDLE + 3
    assert a.counts["malformed_json"] == 2
    wait_idle(a)


@pytest.mark.parametrize("include_usage", [True, False])
def test_usage_in_a_non_final_frame_is_recorded(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream], include_usage: bool
) -> None:
    mocks["a"].mode = "usage_in_non_final_frame"
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    response, lines, _ = stream_lines(relay, api_key, "solo", **options)
    assert response.status_code == 200 and lines[-1] == "data: [DONE]"
    frames = data(lines)
    body = mocks["a"].received[-1].body
    expected = usage_for(body, answer_words(body))
    prompt, completion = expected["prompt_tokens"], expected["completion_tokens"]
    if include_usage:
        usage = frames[-1]["usage"]
        assert frames[-1]["choices"] == []
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (prompt, completion)
        assert all(c["usage"] is None for c in frames[:-1])
    else:
        assert all("usage" not in c for c in frames)
    row = relay.ledger_row(response.headers["x-request-id"])
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, completion)
    assert row["total_tokens"] == prompt + completion
    assert not row.get("usage_estimated")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_no_usage_is_counted_by_the_relay(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream], stream: bool
) -> None:
    mocks["a"].mode = "no_usage"
    request_id, text, _ = ask(client, "solo", stream)
    assert text == "echo: hello there"
    row = relay.ledger_row(request_id)
    assert row["status"] == 200
    assert row["completion_tokens"] > 0, "the relay counts the answer itself"
    assert row["prompt_tokens"] > 0
    assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
    if "usage_estimated" in row:
        assert row["usage_estimated"]


def test_a_client_leaving_during_failover_stops_it(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    a = mocks["a"]
    a.mode = "hang_before_headers"
    before = totals(mocks)
    with pytest.raises(httpx.ReadTimeout):
        post_with_timeout(relay, api_key, "patient", timeout=0.5)
    # The model waits 5 s for a first token; the relay lets go of the upstream long before.
    wait_idle(a, timeout=3)
    assert grown(before, mocks) == {"a": 1}
    request_id = a.request_ids[-1]
    row = relay.ledger_row(request_id)
    assert row["client_disconnected"]
    assert row["status"] == 499


def post_with_timeout(relay: RunningRelay, api_key: str, model: str, timeout: float) -> None:
    httpx.post(
        relay.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {api_key}"},
        json={"model": model, "messages": HELLO, "stream": True},
        timeout=timeout,
    )


def test_a_model_may_shorten_its_providers_timeouts(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    a = mocks["a"]
    a.mode, a.delay = "slow_headers", 0.7
    request_id, text, _ = ask(client, "duo")  # the provider waits 1 s: a answers
    assert (text, seen_by(mocks, request_id)) == ("echo: hello there", ["a"])
    request_id, text, model = ask(client, "impatient")  # this model waits 0.4 s only
    assert (text, model) == ("echo: hello there", "impatient")
    assert seen_by(mocks, request_id) == ["a", "b"]
    assert relay.ledger_row(request_id)["provider"] == "b"
    wait_idle(*mocks.values())


SLOW_FIRST = [("slow_headers", False), ("slow_first_token", True)]


@pytest.mark.parametrize(("mode", "stream"), SLOW_FIRST, ids=["whole", "stream"])
def test_a_model_may_lengthen_its_first_token_timeout(
    client: openai.OpenAI, mocks: dict[str, FaultUpstream], mode: str, stream: bool
) -> None:
    """`patient` waits 5 s for a first token; its provider's idle gap (1 s) is for the gaps
    between chunks, so a first answer after 2 s is still `a`'s, whole or streamed."""
    a = mocks["a"]
    a.mode, a.delay = mode, 2.0
    request_id, text, _ = ask(client, "patient", stream)
    assert text == "echo: hello there"
    assert seen_by(mocks, request_id) == ["a"], "a is given its 5 s"
    wait_idle(*mocks.values())


def test_headers_without_a_first_token_fail_over(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    """No content has reached the client (at most the 200 and `: ping` comments), so an
    upstream that accepts a stream and never sends its first token is failed over."""
    mocks["a"].mode = "hang_after_headers"
    started = time.monotonic()
    request_id, text, _ = ask(client, "duo", stream=True)
    assert text == "echo: hello there"
    assert seen_by(mocks, request_id) == ["a", "b"]
    assert time.monotonic() - started < FAST_TIMEOUTS["first_token"] + 3
    wait_idle(*mocks.values())


LEAK_FAULTS = ["reset_mid_stream", "hang_mid_stream", "malformed_sse", "malformed_json"]
LEAK_FAULTS += ["hang_after_headers", "hang_before_headers", "500", "refuse"]
FAULTY = 6


@pytest.mark.parametrize("fault", LEAK_FAULTS)
def test_faulty_requests_leave_the_relay_holding_nothing_more(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream], fault: str
) -> None:
    """The relay's own sockets (from /proc): after FAULTY faulty requests, whole and streamed,
    it holds at most its one pooled connection to the upstream, nothing half-closed, and no
    more file descriptors than before (the fixtures check every other test the same way)."""
    a = mocks["a"]
    assert post(relay, api_key, "solo").status_code == 200
    before = assert_within_pool(relay, [a], {"a": 1})
    assert before.to(a.port) == 1, "the pooled connection is seen"
    a.mode = fault
    for i in range(FAULTY):
        if i % 2:
            stream_lines(relay, api_key, "solo")
        else:
            assert post(relay, api_key, "solo").status_code >= 500
    wait_idle(a)
    a.mode = "ok"
    after = assert_within_pool(relay, [a], {"a": 1})
    assert after.fds <= before.fds + 2, (before, after)
    assert post(relay, api_key, "solo").status_code == 200
