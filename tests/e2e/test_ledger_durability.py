"""A response that was sent is in the ledger, even when the relay is killed right after."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.conftest import relay_config, start_relay, stop_relay, wait_until
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
