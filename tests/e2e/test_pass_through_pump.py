"""A pass-through's stream on the relay's own upstream client and pump (docs/streaming.md):
kept-alive upstream connections, back-pressure from a slow client to the upstream, and the
ways a stream's connection can break, each as a client and the ledger see it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.conftest import ADMIN, ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.mocks.anthropic_faults import FaultAnthropic
from tests.mocks.anthropic_upstream import ANTHROPIC_KEY
from tests.mocks.hostile_upstream import HostileUpstream, leak_forms

TIMEOUTS = {"connect": 2, "first_token": 5, "idle": 1, "total": 60}
MODELS = {
    "claude-echo": "claude-sonnet-4-6",
    "claude-bulk": "mock-bulk",
    "claude-cut": "mock-cut-midchunk",
    "claude-pause": "mock-pause",
    "claude-endless": "mock-endless",
}
OPERATOR_HEADERS = {"Anthropic-Version": "2023-01-01", "x-gateway-tag": "blue"}
HOSTILE_KEY = "sk-ant-hostile-0123456789abcdefghijklmnop"
HOSTILE_SCENARIOS = ("fail-401", "fail-429", "fail-500")
RELAY_PING = b'event: ping\ndata: {"type":"ping"}\n\n'


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultAnthropic]:
    mock = FaultAnthropic()
    mock.start()
    yield mock
    mock.stop()


def claude_config(base_url: str) -> dict[str, Any]:
    provider = {"type": "anthropic", "base_url": base_url, "api_key": ANTHROPIC_KEY}
    models: dict[str, Any] = {
        name: {"provider": "claude", "upstream_model": upstream}
        for name, upstream in MODELS.items()
    }
    # A provider of its own (its own pool) for the connection the upstream drops.
    models["claude-drop"] = {"provider": "claude-fresh", "upstream_model": "mock-drop-reused"}
    # One that waits long for a slow client (a write may wait `idle` seconds).
    models["claude-bulk-patient"] = {"provider": "claude-patient", "upstream_model": "mock-bulk"}
    models["claude-headers"] = {"provider": "claude-headers", "upstream_model": "mock-headers"}
    # Quick to give up on an upstream's headers or first event.
    models["claude-hang"] = {"provider": "claude-quick", "upstream_model": "mock-hang-head"}
    models["claude-failover"] = {
        "deployments": [
            {"provider": "claude-quick", "upstream_model": "mock-silent-start", "priority": 0},
            {"provider": "claude-quick", "upstream_model": "claude-sonnet-4-6", "priority": 1},
        ]
    }
    return {
        "server": {"keepalive_ping_seconds": 0.3},
        "providers": {
            "claude": {**provider, "timeouts": TIMEOUTS},
            "claude-fresh": {**provider, "timeouts": TIMEOUTS},
            "claude-patient": {**provider, "timeouts": {**TIMEOUTS, "idle": 60}},
            "claude-headers": {**provider, "headers": OPERATOR_HEADERS},
            "claude-quick": {**provider, "timeouts": {**TIMEOUTS, "first_token": 1}},
        },
        "models": models,
    }


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    mock = HostileUpstream()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def relay(
    faults: FaultAnthropic, hostile: HostileUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    config = claude_config(faults.base_url)
    config["providers"]["hostile"] = {
        "type": "anthropic",
        "base_url": hostile.url,
        "api_key": HOSTILE_KEY,
        "timeouts": TIMEOUTS,
    }
    for scenario in HOSTILE_SCENARIOS:
        config["models"][f"claude-{scenario}"] = {"provider": "hostile", "upstream_model": scenario}
    running = start_relay(config, tmp_path_factory.mktemp("pump"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def key(relay: RunningRelay) -> str:
    return relay.create_key("pump")


@pytest.fixture()
def claude(relay: RunningRelay, key: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=relay.url, api_key=key, max_retries=0) as client:
        yield client


def ask(model: str, text: str = "hello") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }


def post(relay: RunningRelay, key: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return httpx.post(relay.url + "/v1/messages", json=body, headers=headers, timeout=60)


def events_of(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The named events of an SSE body, each with its data (which must be whole JSON)."""
    found = []
    for block in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


def open_socket(relay: RunningRelay, key: str, body: dict[str, Any]) -> socket.socket:
    """A raw client connection that has sent `body` to the Messages door and reads nothing
    yet, with a small receive buffer (so the relay's writes to it soon wait)."""
    host, port = relay.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    payload = orjson.dumps(body)
    sock.sendall(
        b"POST /v1/messages HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\n"
        + f"x-api-key: {key}\r\nanthropic-version: 2023-06-01\r\n".encode()
        + f"content-length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def read_head(sock: socket.socket) -> tuple[dict[str, str], bytes]:
    """The response's headers, and the bytes read past them."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")[1:]
    return {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}, rest


def resident(relay: RunningRelay) -> int:
    """The relay process's resident memory, in bytes."""
    status = Path(f"/proc/{relay.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """An HTTP/1.1 chunked body's content, and whether its last chunk came."""
    out = b""
    while True:
        size_line, sep, rest = data.partition(b"\r\n")
        if not sep:
            return out, False
        size = int(size_line, 16)
        if size == 0:
            return out, True
        if len(rest) < size + 2:
            return out, False
        out += rest[:size]
        data = rest[size + 2 :]


def test_streams_in_a_row_share_one_upstream_connection(
    relay: RunningRelay, claude: anthropic.Anthropic, faults: FaultAnthropic
) -> None:
    before = len(faults.connections)
    for turn in range(3):
        with claude.messages.stream(
            model="claude-echo",
            max_tokens=50,
            messages=[{"role": "user", "content": f"again {turn}"}],
        ) as stream:
            answer = stream.get_final_message()
        assert answer.content[0].text == f"echo: again {turn}"
        assert answer.usage.output_tokens > 0
    assert len(faults.connections) - before == 3
    assert len(set(faults.connections[before:])) == 1, "each stream opened a connection"
    status = httpx.get(relay.url + "/readyz", headers=ADMIN).json()["providers"]["claude"]
    assert status["connections_idle"] >= 1 and status["connections_in_use"] == 0


def test_a_slow_reader_gets_every_byte(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    """A client that reads a 20 MB stream a little at a time gets it byte for byte, and the
    relay holds its upstream back meanwhile instead of buffering what the client has not read
    (without back-pressure its memory grows by most of the stream)."""
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
    body = body.replace(b": ping\n\n", b"").replace(RELAY_PING, b"")
    assert body == faults.bulk_sent
    growth = max(rss) - rss[0]
    print("RSS growth", growth / 1e6, "MB")
    assert growth < len(body) / 4, f"the relay held {growth} bytes of a {len(body)} byte stream"
    row = relay.ledger_row(headers["x-request-id"])
    assert row["status"] == 200 and row["error_code"] is None
    assert row["completion_tokens"] > 0


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
    relay: RunningRelay, key: str, claude: anthropic.Anthropic
) -> None:
    response = post(relay, key, ask("claude-cut"))
    assert response.status_code == 200
    events = events_of(response.content)  # every event whole: no half event got through
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names.count("content_block_delta") == 2 and names[-1] == "error"
    assert "closed the stream before it finished" in events[-1][1]["error"]["message"]
    row = relay.ledger_row(response.headers["x-request-id"])
    assert (row["status"], row["error_code"]) == (200, "upstream_stream_cut")
    # The broken connection was not kept: the next stream is served as usual.
    with claude.messages.stream(
        model="claude-echo", max_tokens=50, messages=[{"role": "user", "content": "after"}]
    ) as stream:
        assert stream.get_final_message().content[0].text == "echo: after"


def test_a_silent_upstream_times_out_mid_stream(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    response = post(relay, key, ask("claude-pause"))
    names = [name for name, _ in events_of(response.content)]
    assert names[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert "ping" in names[3:-1], "the relay kept the silent stream alive with Anthropic's ping"
    assert names[-1] == "error"
    row = relay.ledger_row(response.headers["x-request-id"])
    assert row["error_code"] == "upstream_timeout"
    wait_until(lambda: faults.open_streams == 0, timeout=10)


def test_a_client_that_leaves_releases_the_upstream(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    url = relay.url + "/v1/messages"
    with httpx.stream("POST", url, json=ask("claude-endless"), headers=headers) as response:
        request_id = response.headers["x-request-id"]
        deltas = 0
        for line in response.iter_lines():
            deltas += line == "event: content_block_delta"
            if deltas == 5:
                break
    wait_until(lambda: faults.open_streams == 0, timeout=10)
    row = relay.ledger_row(request_id)
    assert row["client_disconnected"] and row["error_code"] == "client_disconnected"
    assert row["completion_tokens"] >= 5 and row["usage_estimated"]


def test_a_connection_the_upstream_closed_while_idle_is_replaced(
    relay: RunningRelay, claude: anthropic.Anthropic, faults: FaultAnthropic
) -> None:
    """The upstream drops a kept-alive connection as the next request arrives on it (as one
    that closed it while idle would): the request goes again on a new connection, unseen."""
    before = len(faults.connections)
    for turn in range(2):
        with claude.messages.stream(
            model="claude-drop", max_tokens=50, messages=[{"role": "user", "content": f"t{turn}"}]
        ) as stream:
            assert stream.get_final_message().content[0].text == f"echo: t{turn}"
    first, dropped, again = faults.connections[before:]
    assert first == dropped != again


def test_the_streamed_error_of_a_refusing_upstream_is_the_whole_ones(
    relay: RunningRelay, key: str
) -> None:
    """A non-200 answer is read and mapped as on the aiohttp path: the streamed request gets
    the status and body the same request without `stream` gets."""
    whole = post(relay, key, {**ask("claude-echo"), "stream": False, "temperature": 1.5})
    streamed = post(relay, key, {**ask("claude-echo"), "temperature": 1.5})
    assert whole.status_code == streamed.status_code == 400
    assert whole.json() == streamed.json()
    assert streamed.json()["error"]["type"] == "invalid_request_error"


def test_a_stream_goes_upstream_with_the_headers_a_whole_answer_does(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    """The relay's own client sends what its aiohttp session sends: the provider's key and
    headers, the operator's over them, the client's `anthropic-beta`, the request id (but
    no `accept-encoding`: the stream comes as it is)."""
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01", "anthropic-beta": "b-1"}
    sent = []
    for stream in (False, True):
        body = {**ask("claude-headers"), "stream": stream}
        response = httpx.post(relay.url + "/v1/messages", json=body, headers=headers)
        assert response.status_code == 200, response.text
        sent.append(dict(faults.last().headers))
    whole, streamed = sent
    assert streamed["x-api-key"] == ANTHROPIC_KEY and streamed["anthropic-beta"] == "b-1"
    assert streamed["anthropic-version"] == "2023-01-01" and streamed["x-gateway-tag"] == "blue"
    assert streamed.pop("x-llmrelay-request-id") != whole.pop("x-llmrelay-request-id")
    for varying in ("content-length", "accept-encoding"):
        whole.pop(varying, None)
        streamed.pop(varying, None)
    assert streamed == whole


def test_an_upstream_that_never_answers_times_out(
    relay: RunningRelay, key: str, faults: FaultAnthropic
) -> None:
    response = post(relay, key, ask("claude-hang"))
    assert response.status_code == 504, response.text
    assert "no response headers in time" in response.json()["error"]["message"]
    row = relay.ledger_row(response.headers["x-request-id"])
    assert row["error_code"] == "upstream_timeout"
    wait_until(lambda: faults.open_streams == 0, timeout=10)  # the relay let go of it


def test_a_deployment_silent_after_its_headers_is_replaced_unseen(
    relay: RunningRelay, claude: anthropic.Anthropic, faults: FaultAnthropic
) -> None:
    """Its first event did not come within `first_token`: the next deployment answers, and
    the client sees one clean stream (nothing of the first got through)."""
    before = len(faults.received)
    with claude.messages.stream(
        model="claude-failover", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        answer = stream.get_final_message()
    assert answer.content[0].text == "echo: hi"
    tried = [request.body["model"] for request in faults.received[before:]]
    assert tried == ["mock-silent-start", "claude-sonnet-4-6"]
    wait_until(lambda: faults.open_streams == 0, timeout=10)


@pytest.mark.parametrize("scenario", HOSTILE_SCENARIOS)
def test_a_refusal_that_echoes_the_key_reaches_the_client_scrubbed(
    relay: RunningRelay, key: str, scenario: str
) -> None:
    """An upstream whose error echoes the relay's key in every field, in every form: the
    streamed request gets the whole request's status and error type, with no form of the key
    in it (the messages differ only by the request id the upstream echoes too)."""
    whole = post(relay, key, {**ask(f"claude-{scenario}"), "stream": False})
    streamed = post(relay, key, ask(f"claude-{scenario}"))
    assert streamed.status_code == whole.status_code >= 400
    assert streamed.json()["error"]["type"] == whole.json()["error"]["type"]
    text = streamed.text + str(streamed.headers)
    assert not [form for form in leak_forms(HOSTILE_KEY) if form in text]
