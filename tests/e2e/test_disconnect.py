"""A client that goes away: the upstream work stops at once and the ledger says so."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN, RunningRelay, wait_until
from tests.mocks.openai_upstream import MockOpenAI


def read_some_then_leave(relay: RunningRelay, api_key: str, body: dict, frames: int) -> str:
    with httpx.stream(
        "POST",
        relay.url + "/v1/chat/completions",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {api_key}"},
    ) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        seen = 0
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen += 1
                if seen >= frames:
                    break
    return request_id


def test_disconnect_cancels_the_upstream_stream(
    relay: RunningRelay, api_key: str, mock_openai: MockOpenAI
) -> None:
    request_id = read_some_then_leave(
        relay,
        api_key,
        {
            "model": "slow-stream",
            "stream": True,
            "messages": [{"role": "user", "content": "go on forever"}],
        },
        frames=4,  # the role-only opening chunk, then three ticks
    )
    wait_until(lambda: mock_openai.open_streams == 0, timeout=5)
    row = relay.ledger_row(request_id)
    assert row["client_disconnected"]
    assert row["status"] == 200
    assert row["error_code"] == "client_disconnected"
    # What was delivered before the client left is counted by the relay itself.
    assert row["completion_tokens"] >= 3 and row["usage_estimated"]


def test_disconnect_stops_the_local_model(relay: RunningRelay, api_key: str) -> None:
    request_id = read_some_then_leave(
        relay,
        api_key,
        {
            "model": "smollm2-135m-instruct",
            "stream": True,
            "max_tokens": 1500,
            "temperature": 0,
            "messages": [{"role": "user", "content": "Write a very long essay about the sea."}],
        },
        frames=4,
    )
    row = relay.ledger_row(request_id)
    assert row["client_disconnected"]

    # The engine was told to stop between two tokens: it is idle again at once, where 1,500
    # tokens would have kept it busy for about half a minute.
    def local_idle() -> bool:
        status = httpx.get(relay.url + "/readyz", headers=ADMIN).json()["providers"]["local"]
        return status["in_flight"] == 0

    wait_until(local_idle, timeout=5)
