"""SIGTERM drains the relay (docs/deploy.md, "Reload and drain"): the streams in flight end
as they would have, or, past `server.drain_seconds`, with their door's error frame, billed
for what they delivered; nothing new is served meanwhile; the ledger is flushed and the
process exits 0."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from llmrelay.metering.tokens import TokenCounter
from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, wait_for_text, wait_until
from tests.mocks.openai_upstream import MockOpenAI

STREAMS = 50
PRICE = {"input": 1.0, "output": 2.0}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockOpenAI]:
    upstream = MockOpenAI()
    upstream.start()
    yield upstream
    upstream.stop()


def mock_providers(mock: MockOpenAI) -> dict[str, Any]:
    """The mock, twice: streamed on the relay's own client and pump (docs/streaming.md), and,
    with a header that keeps it off them, on aiohttp and the ASGI `send` path."""
    provider = {"type": "openai", "base_url": mock.base_url, "api_key": "${MOCK_UPSTREAM_KEY}"}
    provider["timeouts"] = {"first_token": 60, "idle": 60, "total": 120}
    return {"mock": provider, "mock-aio": {**provider, "headers": {"accept-encoding": "identity"}}}


def drain_config(mock: MockOpenAI, drain_seconds: float) -> dict[str, Any]:
    aio = {"provider": "mock-aio", "upstream_model": "mock-paced:0.05", "price": PRICE}
    return {
        "server": {"keepalive_ping_seconds": 0.5, "drain_seconds": drain_seconds},
        "providers": mock_providers(mock),
        "models": {
            "paced": {"provider": "mock", "upstream_model": "mock-paced:0.05", "price": PRICE},
            "paced-aio": aio,
            "echo": {"provider": "mock", "upstream_model": "mock-echo", "price": PRICE},
            "hangs": {"provider": "mock", "upstream_model": "mock-hang", "price": PRICE},
            # Its role chunk at once, its first word after half a minute:
            "silent": {"provider": "mock", "upstream_model": "mock-paced:30", "price": PRICE},
        },
    }


def ledger_rows(relay: RunningRelay, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The ledger's rows for `request_ids`, read once: the process has exited, so what it
    flushed is all there is."""
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT * FROM usage_records WHERE request_id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": request_ids},
            ).all()
    finally:
        engine.dispose()
    return {row.request_id: dict(row._mapping) for row in rows}


def chat(words: int, model: str = "paced", stream: bool = True) -> dict[str, Any]:
    text = " ".join(f"w{i}" for i in range(words))
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}


class Stream:
    """One streamed request, read to its end; `first` is set once its first word came."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.request_id = ""
        self.data: list[str] = []
        self.events: list[str] = []

    async def run(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
        async with client.stream("POST", path, json=body) as response:
            assert response.status_code == 200
            self.request_id = response.headers["x-request-id"]
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    self.events.append(line.removeprefix("event: "))
                if line.startswith("data: "):
                    self.data.append(line.removeprefix("data: "))
                    if '"w0' in line or "echo:" in line:
                        self.first.set()

    def text(self) -> str:
        pieces = []
        for data in self.data:
            if data != "[DONE]":
                for choice in json.loads(data).get("choices") or ():
                    pieces.append((choice.get("delta") or {}).get("content") or "")
        return "".join(pieces)


def api_client(relay: RunningRelay, key: str, **limits: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=relay.url,
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
        limits=httpx.Limits(max_connections=200, **limits),
    )


def kept_alive(relay: RunningRelay) -> http.client.HTTPConnection:
    """A connection that has had its answer (`GET /readyz`) and is kept alive, idle."""
    url = httpx.URL(relay.url)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=10)
    connection.request("GET", "/readyz")
    response = connection.getresponse()
    assert response.status == 200 and not response.will_close
    response.read()
    return connection


def how_closed(connection: http.client.HTTPConnection) -> str:
    """How the relay closed the connection: "reset", "ended" (a FIN), or "open" still."""
    assert connection.sock is not None
    try:
        return "ended" if connection.sock.recv(1) == b"" else "open"
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "open"
    finally:
        connection.close()


def test_sigterm_lets_fifty_live_streams_finish_and_bills_them(
    mock: MockOpenAI, tmp_path: Path
) -> None:
    relay = start_relay(drain_config(mock, 30), tmp_path, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    key = relay.create_key("drain")
    words = 80  # 4 s a stream: all are mid-stream when the signal comes

    async def scenario() -> tuple[list[Stream], dict[str, Any]]:
        seen: dict[str, Any] = {}
        idle = await asyncio.to_thread(kept_alive, relay)
        async with api_client(relay, key) as client:
            streams = [Stream() for _ in range(STREAMS)]
            models = ["paced", "paced-aio"] * (STREAMS // 2)
            tasks = [
                asyncio.create_task(s.run(client, "/v1/chat/completions", chat(words, model)))
                for s, model in zip(streams, models, strict=True)
            ]
            await asyncio.wait_for(asyncio.gather(*(s.first.wait() for s in streams)), 30)
            relay.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(wait_for_text, relay.log, "draining:")
            seen["idle"] = await asyncio.to_thread(how_closed, idle)
            try:
                fresh = await httpx.AsyncClient(timeout=5).get(relay.url + "/readyz")
                seen["new_connection"] = fresh.status_code
            except httpx.ConnectError:
                seen["new_connection"] = "refused"
            seen["streams_done_then"] = sum(task.done() for task in tasks)
            await asyncio.gather(*tasks)
        return streams, seen

    streams, seen = asyncio.run(scenario())
    assert relay.process.wait(60) == 0, relay.log()

    # Nothing new reaches it: a new connection is refused, and an idle one kept alive is
    # reset, so that a balancer about to reuse it sends its request to another replica
    # (docs/deploy.md; drain_close.py).
    assert seen["idle"] == "reset"
    assert seen["new_connection"] in ("refused", 503)
    assert seen["streams_done_then"] < STREAMS  # all that was seen while draining

    expected = "echo: " + " ".join(f"w{i}" for i in range(words))
    for stream in streams:
        assert stream.data[-1] == "[DONE]"
        assert stream.text() == expected
        assert json.loads(stream.data[-2])["choices"][0]["finish_reason"] == "stop"
    rows = ledger_rows(relay, [s.request_id for s in streams])
    assert len(rows) == STREAMS
    for row in rows.values():
        assert (row["status"], row["error_code"]) == (200, None)
        assert row["completion_tokens"] == words + 1 and not row["usage_estimated"]
        cost = (row["prompt_tokens"] * PRICE["input"] + (words + 1) * PRICE["output"]) / 1e6
        assert row["cost_usd"] == pytest.approx(cost)
    assert "drained in" in relay.log()
    assert "drain time is up" not in relay.log()  # the idle connection held nothing up


def test_streams_past_the_drain_time_end_with_their_doors_error_and_are_billed(
    mock: MockOpenAI, tmp_path: Path
) -> None:
    relay = start_relay(drain_config(mock, 1), tmp_path, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    key = relay.create_key("drain")
    words = 400  # 20 s: far past the drain's second

    async def scenario() -> tuple[Stream, Stream, Stream, Stream, httpx.Response]:
        before = len(mock.received)
        async with api_client(relay, key) as client:
            chat_stream, messages_stream, silent, aio = Stream(), Stream(), Stream(), Stream()
            messages = {**chat(words), "max_tokens": 1000}
            waiting = asyncio.create_task(
                client.post("/v1/chat/completions", json=chat(1, model="hangs", stream=False))
            )
            tasks = [
                asyncio.create_task(chat_stream.run(client, "/v1/chat/completions", chat(words))),
                asyncio.create_task(messages_stream.run(client, "/v1/messages", messages)),
                asyncio.create_task(
                    silent.run(client, "/v1/chat/completions", chat(1, model="silent"))
                ),
                asyncio.create_task(
                    aio.run(client, "/v1/chat/completions", chat(words, "paced-aio"))
                ),
            ]
            for stream in (chat_stream, messages_stream, aio):
                await stream.first.wait()
            # The other two are upstream too:
            await asyncio.to_thread(wait_until, lambda: len(mock.received) >= before + 5)
            relay.process.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)
            return chat_stream, messages_stream, silent, aio, await waiting

    chat_stream, messages_stream, silent, aio, waiting = asyncio.run(scenario())
    assert relay.process.wait(30) == 0, relay.log()

    # The chat door's error frame, after the words delivered.
    error = json.loads(chat_stream.data[-1])["error"]
    assert error["code"] == "server_draining" and error["type"] == "server_error"
    delivered_words = len(chat_stream.text().split())
    assert 1 < delivered_words < words
    # The Messages door's own: an `error` event.
    assert messages_stream.events[-1] == "error"
    assert json.loads(messages_stream.data[-1])["type"] == "error"
    # The same on the ASGI path (aiohttp upstream).
    assert json.loads(aio.data[-1])["error"]["code"] == "server_draining"
    assert 1 < len(aio.text().split()) < words
    # A stream still waiting for its first token: its 200 went out, then the error frame.
    assert json.loads(silent.data[-1])["error"]["code"] == "server_draining"
    # A whole answer not ready yet: a 503 in the door's shape.
    assert waiting.status_code == 503
    assert waiting.json()["error"]["code"] == "server_draining"

    rows = ledger_rows(relay, [s.request_id for s in (chat_stream, messages_stream, aio)])
    row = rows[chat_stream.request_id]
    assert (row["status"], row["error_code"]) == (200, "server_draining")
    counter = TokenCounter()
    counter.load()
    delivered = counter.count(chat_stream.text())
    assert row["completion_tokens"] == delivered and row["usage_estimated"]  # as delivered
    cost = (row["prompt_tokens"] * PRICE["input"] + delivered * PRICE["output"]) / 1e6
    assert row["cost_usd"] == pytest.approx(cost) and row["cost_usd"] > 0
    for other in (messages_stream, aio):
        row = rows[other.request_id]
        assert row["error_code"] == "server_draining" and row["completion_tokens"] > 1
    assert "drain time is up: 5 stream(s) and request(s) ended" in relay.log()


def ledger_writer(relay: RunningRelay) -> int:
    """The pid of the relay's ledger writer process."""
    children = Path(f"/proc/{relay.process.pid}/task/{relay.process.pid}/children")
    for pid in children.read_text().split():
        if b"llmrelay.metering.writer" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return int(pid)
    raise AssertionError("no ledger writer")


def test_the_last_records_are_flushed_when_the_writer_is_signalled_too(
    mock: MockOpenAI, tmp_path: Path
) -> None:
    """systemd's default stop signals every process of the service at once: the ledger
    writer may drain and exit before the relay has released its last records."""
    relay = start_relay(drain_config(mock, 30), tmp_path, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    key = relay.create_key("drain")
    headers = {"authorization": f"Bearer {key}"}
    answers = [
        httpx.post(relay.url + "/v1/chat/completions", json=chat(3, "echo", False), headers=headers)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200] * 3
    os.kill(ledger_writer(relay), signal.SIGTERM)
    relay.process.send_signal(signal.SIGTERM)
    assert relay.process.wait(60) == 0, relay.log()
    request_ids = [a.headers["x-request-id"] for a in answers]
    assert set(ledger_rows(relay, request_ids)) == set(request_ids)
    assert not list((relay.data_dir / "outbox").glob("outbox-*.jsonl"))
