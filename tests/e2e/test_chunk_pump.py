"""A translated stream on the relay's own upstream client and chunk pump (docs/streaming.md):
the chat door in front of an Anthropic upstream, each upstream read's events turned into
chat chunks and written to the client's socket from the read callback. The faults are the
pass-through's (test_pass_through_pump.py), seen through another door: back-pressure from a
slow client to the upstream, and each way a stream's connection can break, as a client and
the ledger see it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import ADMIN, ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.test_pass_through_pump import claude_config, dechunk, read_head, resident
from tests.mocks.anthropic_faults import BULK_EVENTS, BULK_PIECE, FaultAnthropic


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultAnthropic]:
    mock = FaultAnthropic()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def relay(faults: FaultAnthropic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    config = claude_config(faults.base_url)
    running = start_relay(config, tmp_path_factory.mktemp("chunks"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def key(relay: RunningRelay) -> str:
    return relay.create_key("chunk-pump")


@pytest.fixture()
def client(relay: RunningRelay, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=relay.url + "/v1", api_key=key, max_retries=0) as sdk:
        yield sdk


def ask(model: str, text: str = "hello") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 100,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }


def post(relay: RunningRelay, key: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    return httpx.post(relay.url + "/v1/chat/completions", json=body, headers=headers, timeout=60)


def frames_of(body: bytes) -> list[Any]:
    """The `data:` frames of a chat stream, parsed (`[DONE]` as the string)."""
    frames: list[Any] = []
    for block in body.decode().split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                frames.append(data if data == "[DONE]" else json.loads(data))
    return frames


def text_of(frames: list[Any]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for frame in frames
        if isinstance(frame, dict)
        for choice in frame.get("choices") or ()
    )


def open_socket(relay: RunningRelay, key: str, body: dict[str, Any]) -> socket.socket:
    """A raw client connection that has sent `body` to the chat door and reads nothing yet,
    with a small receive buffer (so the relay's writes to it soon wait)."""
    host, port = relay.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    payload = orjson.dumps(body)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {key}\r\ncontent-length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def test_streams_in_a_row_share_one_upstream_connection(
    relay: RunningRelay, client: openai.OpenAI, faults: FaultAnthropic
) -> None:
    before = len(faults.connections)
    for turn in range(3):
        stream = client.chat.completions.create(
            model="claude-echo",
            messages=[{"role": "user", "content": f"again {turn}"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == f"echo: again {turn}"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert len(set(faults.connections[before:])) == 1, "each stream opened a connection"
    status = httpx.get(relay.url + "/readyz", headers=ADMIN).json()["providers"]["claude"]
    assert status["connections_idle"] >= 1 and status["connections_in_use"] == 0


def test_a_slow_reader_gets_every_word(relay: RunningRelay, key: str) -> None:
    """A client that reads a 20 MB stream a little at a time gets all of it, in order, and the
    relay holds its upstream back meanwhile instead of buffering what the client has not read."""
    rss = [resident(relay)]
    sock = open_socket(relay, key, ask("claude-bulk-patient"))
    try:
        headers, data = read_head(sock)
        assert headers["content-type"].startswith("text/event-stream")
        done, reads = False, 0
        while not done:
            read = sock.recv(8192)
            assert read, "the relay closed the stream"
            data += read
            time.sleep(0.001)  # a slow reader, not a timing assertion
            reads += 1
            if reads % 50 == 0:
                rss.append(resident(relay))
            if data.endswith(b"0\r\n\r\n"):
                _, done = dechunk(data)
    finally:
        sock.close()
    body, _ = dechunk(data)
    frames = frames_of(body)
    assert frames[-1] == "[DONE]" and frames[-2]["usage"]["completion_tokens"] > 0
    assert text_of(frames) == BULK_PIECE * BULK_EVENTS
    growth = max(rss) - rss[0]
    assert growth < len(body) / 4, f"the relay held {growth} bytes of a {len(body)} byte stream"
    row = relay.ledger_row(headers["x-request-id"])
    assert row["status"] == 200 and row["error_code"] is None and not row["usage_estimated"]


def test_a_client_that_stops_reading_is_abandoned_and_billed(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    sock = open_socket(relay, key, ask("claude-bulk"))
    try:
        headers, _ = read_head(sock)  # and nothing more
        wait_until(lambda: faults.open_streams == 1, timeout=10)
        wait_until(lambda: faults.open_streams == 0, timeout=30)  # the upstream let go of
        row = relay.ledger_row(headers["x-request-id"])
    finally:
        threading.Thread(target=sock.close, daemon=True).start()
    assert row["status"] == 200
    assert row["error_code"] == "client_write_timeout" and row["client_disconnected"]
    assert row["completion_tokens"] > 0, "what was delivered is billed"


def test_an_upstream_that_closes_mid_chunk_cuts_the_stream(
    relay: RunningRelay, key: str, client: openai.OpenAI
) -> None:
    response = post(relay, key, ask("claude-cut"))
    assert response.status_code == 200
    frames = frames_of(response.content)  # every frame whole JSON: no half chunk got through
    assert text_of(frames), "what came before the cut went out"
    assert "closed the stream before it finished" in frames[-1]["error"]["message"]
    row = relay.ledger_row(response.headers["x-request-id"])
    assert (row["status"], row["error_code"]) == (200, "upstream_stream_cut")
    # The broken connection was not kept: the next stream is served as usual.
    stream = client.chat.completions.create(
        model="claude-echo", messages=[{"role": "user", "content": "after"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: after"


def test_a_silent_upstream_times_out_mid_stream(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    response = post(relay, key, ask("claude-pause"))
    body = response.content
    assert b": ping\n\n" in body, "the relay kept the silent stream alive"
    frames = frames_of(body)
    assert frames[0]["choices"][0]["delta"]["role"] == "assistant"
    assert frames[-1]["error"]["code"] == "upstream_timeout"
    row = relay.ledger_row(response.headers["x-request-id"])
    assert row["error_code"] == "upstream_timeout"
    wait_until(lambda: faults.open_streams == 0, timeout=10)


def test_a_client_that_leaves_releases_the_upstream(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    headers = {"authorization": f"Bearer {key}"}
    url = relay.url + "/v1/chat/completions"
    with httpx.stream("POST", url, json=ask("claude-endless"), headers=headers) as response:
        request_id = response.headers["x-request-id"]
        frames = 0
        for line in response.iter_lines():
            frames += line.startswith("data: ")
            if frames == 5:
                break
    wait_until(lambda: faults.open_streams == 0, timeout=10)
    row = relay.ledger_row(request_id)
    assert row["client_disconnected"] and row["error_code"] == "client_disconnected"
    assert row["completion_tokens"] >= 4 and row["usage_estimated"]


def test_a_deployment_silent_after_its_headers_is_replaced_unseen(
    client: openai.OpenAI, faults: FaultAnthropic
) -> None:
    """Its first token did not come within `first_token`: the next deployment answers, and
    the client sees one clean stream (nothing of the first got through)."""
    before = len(faults.received)
    stream = client.chat.completions.create(
        model="claude-failover", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
    assert next(c.choices[0].delta.role for c in chunks if c.choices) == "assistant"
    tried = [request.body["model"] for request in faults.received[before:]]
    assert tried == ["mock-silent-start", "claude-sonnet-4-6"]
    wait_until(lambda: faults.open_streams == 0, timeout=10)


def test_an_upstream_that_never_answers_times_out(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    response = post(relay, key, ask("claude-hang"))
    assert response.status_code == 504, response.text
    assert "no response headers in time" in response.json()["error"]["message"]
    wait_until(lambda: faults.open_streams == 0, timeout=10)
