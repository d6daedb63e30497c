"""One model host, two relays using it (`LLMRELAY_MODEL_HOST`): the embedded models are loaded
once, both relays' requests share one engine and its queue, and what a client sees is what a
relay with an engine of its own answers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from llmrelay.model_host.wire import Attach, Call, Chunks, Codec, FromHost, Opened
from llmrelay.protocol.request import chat_request_from
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.engine_worker import queue_full
from llmrelay.providers.local_engine import packaged_model_path
from tests.conftest import ADMIN, ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.model_host_support import (
    EMBEDDER,
    MODEL,
    QUEUE_SIZE,
    HostProcess,
    host_config,
    local_status,
    maps,
)

pytestmark = pytest.mark.local_model

LONG = [{"role": "user", "content": "Write a very long essay about the sea."}]
QUESTION = [{"role": "user", "content": "What colour is the sky? Answer in one sentence."}]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    directory = tmp_path_factory.mktemp("model-host")
    running = HostProcess(directory, directory / "host.sock").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pair(host: HostProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    relays = [
        start_relay(
            host_config(),
            tmp_path_factory.mktemp(f"worker-{i}"),
            LLMRELAY_ADMIN_KEY=ADMIN_KEY,
            LLMRELAY_MODEL_HOST=str(host.socket),
        )
        for i in range(2)
    ]
    yield tuple(relays)
    for relay in relays:
        stop_relay(relay)


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    """A relay with its own engine: what the answers must be."""
    directory = tmp_path_factory.mktemp("solo")
    relay = start_relay(host_config(), directory, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield relay
    stop_relay(relay)


def sdk(relay: RunningRelay) -> openai.OpenAI:
    return openai.OpenAI(base_url=relay.base_url, api_key=ADMIN_KEY, max_retries=0, timeout=60)


def answer(relay: RunningRelay, **params: Any) -> tuple[str, int, int]:
    with sdk(relay) as client:
        completion = client.chat.completions.create(model=MODEL, temperature=0, **params)
    usage = completion.usage
    return completion.choices[0].message.content, usage.prompt_tokens, usage.completion_tokens


def streamed(relay: RunningRelay, **params: Any) -> tuple[list[str], int]:
    with sdk(relay) as client:
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
                **params,
            )
        )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices]
    return [piece for piece in pieces if piece], chunks[-1].usage.completion_tokens


def test_both_relays_answer_as_an_engine_of_their_own(pair: tuple, solo: RunningRelay) -> None:
    params = {"messages": QUESTION, "max_tokens": 40}
    expected = answer(solo, **params)
    assert [answer(relay, **params) for relay in pair] == [expected, expected]
    for relay in pair:
        pieces, completion_tokens = streamed(relay, **params)
        assert len(pieces) > 1, "the chunks come as the engine makes them"
        assert ("".join(pieces), completion_tokens) == (expected[0], expected[2])


def test_legacy_completions_and_the_messages_door_too(pair: tuple, solo: RunningRelay) -> None:
    def legacy(relay: RunningRelay) -> str:
        with sdk(relay) as client:
            return (
                client.completions.create(
                    model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0
                )
                .choices[0]
                .text
            )

    def messages(relay: RunningRelay) -> dict[str, Any]:
        # The Messages door keeps `max_tokens` out of the Chat body it builds: a host that
        # re-parsed that body would not know the cap.
        response = httpx.post(
            relay.url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 5, "temperature": 0, "messages": QUESTION},
            headers={"x-api-key": ADMIN_KEY, "anthropic-version": "2023-06-01"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return {"content": body["content"], "usage": body["usage"]["output_tokens"]}

    assert [legacy(relay) for relay in pair] == [legacy(solo)] * 2
    expected = messages(solo)
    assert expected["usage"] == 5
    assert [messages(relay) for relay in pair] == [expected] * 2


def test_embeddings_are_the_same_vectors(pair: tuple, solo: RunningRelay) -> None:
    def vectors(relay: RunningRelay) -> list[list[float]]:
        with sdk(relay) as client:
            data = client.embeddings.create(model=EMBEDDER, input=["sunny day", "rain"]).data
        return [item.embedding for item in data]

    expected = vectors(solo)
    assert len(expected[0]) == 384
    for relay in pair:
        got = vectors(relay)
        assert len(got) == len(expected)
        for vector, wanted in zip(got, expected, strict=True):
            assert vector == pytest.approx(wanted, abs=1e-6)


def test_the_model_is_loaded_in_the_host_only(pair: tuple, host: HostProcess) -> None:
    model_file = os.path.realpath(packaged_model_path())
    assert model_file in maps(host.pid)
    for relay in pair:
        mapped = maps(relay.process.pid)
        assert model_file not in mapped
        assert "onnxruntime" not in mapped
    for relay in pair:
        answer(relay, messages=QUESTION, max_tokens=2)
    statuses = [local_status(relay.url) for relay in pair]
    workers = statuses[0]["model_host"]["workers"]
    assert {str(relay.process.pid) for relay in pair} <= set(workers)
    assert all(workers[str(relay.process.pid)] >= 1 for relay in pair)
    assert {s["model_host"]["pid"] for s in statuses} == {host.pid}
    assert statuses[0]["queue_size"] == QUEUE_SIZE and statuses[0]["kind"] == "local"


def test_both_relays_share_one_queue(pair: tuple) -> None:
    """One generation running and two waiting, from both relays: the next request, at either
    relay, is refused as a full embedded queue refuses it; and streams the clients close
    stop the engine at once."""
    first, second = pair
    clients = [sdk(first), sdk(second), sdk(second)]
    params = {"model": MODEL, "max_tokens": 1500, "temperature": 0, "stream": True}
    streams = [client.chat.completions.create(messages=LONG, **params) for client in clients]
    try:
        next(iter(streams[0]))
        wait_until(lambda: local_status(first.url)["in_flight"] == QUEUE_SIZE + 1)
        for relay in pair:
            response = httpx.post(
                relay.url + "/v1/chat/completions",
                json={"model": MODEL, "max_tokens": 5, "messages": QUESTION},
                headers=ADMIN,
                timeout=60,
            )
            assert response.status_code == 429
            assert response.headers["retry-after"] == "1"
            assert response.json() == queue_full(QUEUE_SIZE).body()
    finally:
        for stream, client in zip(streams, clients, strict=True):
            stream.close()
            client.close()
    # 4,500 tokens to go would keep the engine busy for minutes.
    wait_until(lambda: local_status(second.url)["in_flight"] == 0, timeout=10)


def test_a_whole_answer_whose_client_left_stops_too(pair: tuple) -> None:
    relay = pair[0]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            relay.url + "/v1/chat/completions",
            json={"model": MODEL, "max_tokens": 1500, "temperature": 0, "messages": LONG},
            headers=ADMIN,
            timeout=httpx.Timeout(60, read=2),
        )
    wait_until(lambda: local_status(relay.url)["in_flight"] == 0, timeout=10)


async def test_a_worker_that_goes_away_stops_its_generation(pair: tuple, host: HostProcess) -> None:
    """Its connection closes mid-stream, with no word: the host cancels what it asked."""
    reader, writer = await asyncio.open_unix_connection(str(host.socket))
    codec = Codec(FromHost)
    request = chat_request_from({"model": MODEL, "messages": LONG, "temperature": 0})
    call = UpstreamCall(request, MODEL, "gone-worker", max_tokens=1500)
    writer.write(codec.encode(Attach(os.getpid())))
    writer.write(codec.encode(Call(1, "open_stream", "local", call)))
    kinds = []
    while Chunks not in kinds:
        kinds.append(type(await codec.read(reader)))
    assert Opened in kinds
    wait_until(lambda: local_status(pair[0].url)["in_flight"] == 1)
    writer.close()
    await writer.wait_closed()
    wait_until(lambda: local_status(pair[0].url)["in_flight"] == 0, timeout=10)


BAD_REQUESTS = [
    {"messages": [{"role": "user", "content": "word " * 3000}]},
    {"messages": [{"role": "user", "content": "word " * 3000}], "stream": True},
    {"messages": QUESTION, "logit_bias": {"49152": 5}},
    {"messages": QUESTION, "n": 17},
    {"messages": QUESTION, "response_format": {"type": "json_object", "schema": {"type": 7}}},
    {
        "messages": QUESTION,
        "stream": True,
        "response_format": {"type": "json_schema", "json_schema": {"schema": {"$ref": "#/x"}}},
    },
    {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
    {"messages": QUESTION, "tools": [{"type": "function", "function": {"name": "f"}}]},
]


@pytest.mark.parametrize("body", BAD_REQUESTS)
def test_refusals_reach_the_client_as_they_are(
    pair: tuple, solo: RunningRelay, body: dict[str, Any]
) -> None:
    def refusal(relay: RunningRelay) -> tuple[int, Any]:
        response = httpx.post(
            relay.url + "/v1/chat/completions",
            json={"model": MODEL, "max_tokens": 5, **body},
            headers=ADMIN,
            timeout=60,
        )
        return response.status_code, response.json()

    expected = refusal(solo)
    assert expected[0] == 400
    assert [refusal(relay) for relay in pair] == [expected, expected]


def test_a_host_that_dies_is_a_503_then_comes_back(pair: tuple, host: HostProcess) -> None:
    first, second = pair
    before = answer(first, messages=QUESTION, max_tokens=8)
    with sdk(second) as client:
        stream = client.chat.completions.create(
            model=MODEL, messages=LONG, max_tokens=1500, stream=True
        )
        next(iter(stream))
        host.kill()
        with pytest.raises(openai.APIError):  # the stream ends with an error event
            list(stream)
    wait_until(lambda: httpx.get(first.url + "/readyz", timeout=10).status_code == 503)
    assert local_status(first.url)["ready"] is False
    with pytest.raises(openai.InternalServerError) as caught:
        answer(first, messages=QUESTION, max_tokens=8)
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "upstream_unreachable"

    host.start()
    for relay in pair:
        wait_until(lambda r=relay: httpx.get(r.url + "/readyz", timeout=10).status_code == 200)
    assert answer(first, messages=QUESTION, max_tokens=8) == before
    assert local_status(second.url)["model_host"]["pid"] == host.pid
