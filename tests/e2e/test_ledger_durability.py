"""A response that was sent is in the ledger, even when the relay is killed right after."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import orjson

from tests.conftest import RunningRelay, relay_config, start_relay, stop_relay, wait_until
from tests.mocks.openai_upstream import MockOpenAI


def test_usage_survives_a_kill_right_after_the_response(mock_openai: MockOpenAI, tmp_path) -> None:
    relay = start_relay(relay_config(mock_openai), tmp_path / "first")
    key = relay.create_key("durable")
    request_ids = []
    for i in range(5):
        response = httpx.post(
            relay.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "gpt-5", "messages": [{"role": "user", "content": f"n {i}"}]},
        )
        assert response.status_code == 200
        request_ids.append(response.headers["x-request-id"])
    relay.process.send_signal(signal.SIGKILL)
    relay.process.wait(10)
    rows = [relay.ledger_row(request_id) for request_id in request_ids]
    assert [row["status"] for row in rows] == [200] * 5
    assert all(row["key_name"] == "durable" and row["total_tokens"] > 0 for row in rows)
    wait_until(lambda: not writers_for(relay.data_dir / "outbox"), timeout=30)
    stop_relay(relay)


def writers_for(outbox: Path) -> list[int]:
    """Ledger writer processes still serving this outbox (an orphan would linger here)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(outbox).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_a_record_the_database_refuses_does_not_stop_the_ledger(
    mock_openai: MockOpenAI, tmp_path
) -> None:
    """A segment holding a record no column can take (a token count past 64 bits) was retried
    for ever, and every record after it, from any key, stayed in the outbox. It is set aside
    in `outbox/rejected/` instead, and the good records around it land."""
    relay = start_relay(relay_config(mock_openai), tmp_path / "poisoned")
    try:
        outbox = relay.data_dir / "outbox"
        good = relay.ledger_row(send(relay, relay.create_key("before")))
        poisoned = {**good, "request_id": "req_poisoned", "prompt_tokens": 2**63 + 5}
        neighbour = {**good, "request_id": "req_neighbour"}
        lines = [orjson.dumps(_without_id(r)) for r in (poisoned, neighbour)]
        hidden = outbox / ".outbox-gone-00000001.jsonl.new"  # the writer must see it whole
        hidden.write_bytes(b"\n".join(lines) + b"\n")
        hidden.rename(outbox / "outbox-gone-00000001.jsonl")
        after = send(relay, relay.create_key("after"))
        assert relay.ledger_row(after)["key_name"] == "after"
        assert relay.ledger_row("req_neighbour")["prompt_tokens"] == good["prompt_tokens"]
        [rejected] = (outbox / "rejected").glob("rejected-*.jsonl")
        assert orjson.loads(rejected.read_bytes())["request_id"] == "req_poisoned"
        assert "req_poisoned cannot be stored" in relay.log()
    finally:
        stop_relay(relay)


def send(relay: RunningRelay, key: str) -> str:
    """One chat request; its x-request-id."""
    response = httpx.post(
        relay.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-5", "messages": [{"role": "user", "content": "hello"}]},
    )
    assert response.status_code == 200
    return response.headers["x-request-id"]


def _without_id(row: dict) -> dict:
    """A ledger row as the outbox holds it (the database numbers the rows)."""
    return {k: v for k, v in row.items() if k != "id"}


def test_a_whole_answer_is_in_the_ledger_before_its_first_byte_reaches_the_client(
    mock_openai: MockOpenAI, tmp_path
) -> None:
    """The relay is frozen (SIGSTOP) the moment the client sees the answer's first byte: the
    answer's record is already on disk, so a kill at that moment could not lose it."""
    relay = start_relay(relay_config(mock_openai), tmp_path / "ordered")
    try:
        key = relay.create_key("ordered")
        outbox = relay.data_dir / "outbox"
        body = orjson.dumps({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})
        request = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {key}"
            f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        port = int(relay.url.rsplit(":", 1)[1])
        for _ in range(10):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(request)
                first = client.recv(65536)
                relay.process.send_signal(signal.SIGSTOP)
                try:
                    head = first.split(b"\r\n\r\n", 1)[0].decode()
                    assert head.startswith("HTTP/1.1 200")
                    request_id = head.split("x-request-id: ", 1)[1].split("\r\n", 1)[0]
                    assert _recorded(outbox, request_id) or relay.ledger_row(request_id, 1)
                finally:
                    relay.process.send_signal(signal.SIGCONT)
    finally:
        stop_relay(relay)


def _recorded(outbox: Path, request_id: str) -> bool:
    """Whether a record of `request_id` is in the outbox (segments being written included)."""
    needle = f'"request_id":"{request_id}"'.encode()
    return any(needle in path.read_bytes() for path in outbox.glob("*outbox-*") if path.is_file())
