"""What no client may do to the relay: hold sockets open without a request, trickle its
headers, open more connections than the relay can serve, pile up large bodies, or pin an
upstream stream by never reading its own."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from tests.conftest import (
    ADMIN,
    ADMIN_KEY,
    RunningRelay,
    start_relay,
    stop_relay,
    wait_until,
)
from tests.mocks.openai_upstream import MockOpenAI

HEADER_TIMEOUT = 1.0
MAX_CONNECTIONS = 12
BODY_CAP = 3_000_000
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def guarded(mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    config = {
        "server": {
            "header_timeout_seconds": HEADER_TIMEOUT,
            "max_connections": MAX_CONNECTIONS,
            "max_body_bytes": 2_600_000,
            "max_inflight_body_bytes": BODY_CAP,
            "keepalive_ping_seconds": 0.3,
        },
        "providers": {
            "mock": {
                "type": "openai",
                "base_url": mock_openai.base_url,
                "api_key": "${MOCK_UPSTREAM_KEY}",
                "timeouts": {"connect": 2, "first_token": 5, "idle": 1, "total": 20},
            }
        },
        "models": {
            "echo": {"provider": "mock", "upstream_model": "mock-echo"},
            "flood": {"provider": "mock", "upstream_model": "mock-flood"},
            "huge-error": {"provider": "mock", "upstream_model": "mock-huge-error"},
        },
    }
    relay = start_relay(config, tmp_path_factory.mktemp("guarded"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield relay
    stop_relay(relay)


@pytest.fixture(scope="module")
def key(guarded: RunningRelay) -> str:
    return guarded.create_key("guarded")


def connect(relay: RunningRelay) -> socket.socket:
    host, port = relay.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the relay sends until it closes the connection (or resets it)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_a_connection_that_sends_nothing_is_closed(guarded: RunningRelay) -> None:
    with connect(guarded) as sock:
        assert read_to_end(sock) == b""  # closed by the relay, well before the 30 s timeout


def test_a_connection_that_trickles_its_headers_is_closed(guarded: RunningRelay) -> None:
    request = b"GET /healthz HTTP/1.1\r\nhost: relay\r\nx-padding: " + b"a" * 200
    sent = 0
    with connect(guarded) as sock:
        sock.settimeout(HEADER_TIMEOUT / 4)
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                sent += 1
                try:
                    if sock.recv(1) == b"":
                        break
                except TimeoutError:
                    continue
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert sent < len(request), "the relay waited for the whole trickled request"


def test_a_connection_that_finishes_its_headers_in_time_is_served(guarded: RunningRelay) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: relay\r\nconnection: close\r\n\r\n")
        assert read_to_end(sock).startswith(b"HTTP/1.1 200")


def test_connections_past_the_cap_get_503_and_are_closed(guarded: RunningRelay) -> None:
    held: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS):  # kept-alive connections stay open after a request
            sock = connect(guarded)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: relay\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(sock)
        with connect(guarded) as extra:
            answer = read_to_end(extra)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503")
        assert b"retry-after: 1" in head.lower()
        assert orjson.loads(body)["error"]["code"] == "too_many_connections"
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: httpx.get(guarded.url + "/healthz").status_code == 200)


def test_the_descriptor_limit_is_raised_to_the_hard_limit(guarded: RunningRelay) -> None:
    limits = Path(f"/proc/{guarded.process.pid}/limits").read_text()
    row = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    soft, hard = row.split()[3:5]
    assert soft == hard


def test_a_body_is_not_read_before_the_key_is_checked(guarded: RunningRelay) -> None:
    with connect(guarded) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: relay\r\n"
            b"content-type: application/json\r\ncontent-length: 2500000\r\n\r\n"
        )
        answer = sock.recv(65536)  # no byte of the body was sent
    assert answer.startswith(b"HTTP/1.1 401")


def test_bodies_held_at_once_are_capped(guarded: RunningRelay, key: str) -> None:
    size = 2_500_000
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: relay\r\n"
        f"authorization: Bearer {key}\r\ncontent-type: application/json\r\n"
        f"content-length: {size}\r\n\r\n"
    ).encode()
    auth = {"authorization": f"Bearer {key}"}
    big = {"model": "echo", "messages": [{"role": "user", "content": "a" * 600_000}]}
    with connect(guarded) as slow:
        slow.sendall(head + b"{" + b" " * (size - 2))  # all but the last byte: held
        wait_until(lambda: holding(guarded) >= size - 1)
        refused = httpx.post(guarded.url + "/v1/chat/completions", json=big, headers=auth)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "server_busy"
        assert refused.headers["retry-after"] == "1"
    wait_until(lambda: holding(guarded) == 0)
    accepted = httpx.post(guarded.url + "/v1/chat/completions", json=big, headers=auth)
    assert accepted.status_code == 200, accepted.text


def holding(relay: RunningRelay) -> int:
    return httpx.get(relay.url + "/admin/status", headers=ADMIN).json()["request_bodies_bytes"]


def test_a_client_that_never_reads_its_stream_lets_go_of_the_upstream(
    guarded: RunningRelay, key: str, mock_openai: MockOpenAI
) -> None:
    body = orjson.dumps({"model": "flood", "stream": True, "messages": HELLO})
    request = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: relay\r\n"
        f"authorization: Bearer {key}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = connect(guarded)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(request)  # and never read
        wait_until(lambda: mock_openai.open_streams == 1, timeout=10)
        wait_until(lambda: mock_openai.open_streams == 0, timeout=30)
        row = wait_until(lambda: ledger_row_for(guarded, "flood"), timeout=15)
    finally:
        threading.Thread(target=sock.close, daemon=True).start()
    assert row["status"] == 200
    assert row["error_code"] == "client_write_timeout"
    assert row["completion_tokens"] > 0, "what was delivered is billed"


def ledger_row_for(relay: RunningRelay, model: str) -> dict[str, Any] | None:
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.text("SELECT * FROM usage_records WHERE model = :m"), {"m": model}
            ).first()
            return dict(row._mapping) if row else None
    finally:
        engine.dispose()


def test_a_huge_upstream_error_is_not_read_whole(guarded: RunningRelay, key: str) -> None:
    response = httpx.post(
        guarded.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "huge-error", "messages": HELLO},
        timeout=30,
    )
    assert response.status_code == 400
    assert len(response.content) < 4096
    assert response.json()["error"]["message"]
