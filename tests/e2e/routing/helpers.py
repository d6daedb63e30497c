"""What the routing tests share: relay config for fault mocks, requests, and checks."""

from __future__ import annotations

from typing import Any

import httpx
import openai

from tests.conftest import ADMIN, RunningRelay, wait_until
from tests.mocks.fault_upstream import FAST_TIMEOUTS, FaultUpstream


def provider(mock: FaultUpstream, **timeouts: float) -> dict[str, Any]:
    """A relay provider entry pointing at `mock`, with small timeouts."""
    return {
        "type": "openai",
        "base_url": mock.base_url,
        "api_key": "${MOCK_UPSTREAM_KEY}",
        "timeouts": {**FAST_TIMEOUTS, **timeouts},
    }


def start_mocks(*names: str) -> dict[str, FaultUpstream]:
    mocks = {name: FaultUpstream(name) for name in names}
    for mock in mocks.values():
        mock.start()
    return mocks


def stop_mocks(mocks: dict[str, FaultUpstream]) -> None:
    for mock in mocks.values():
        mock.stop()


def wait_idle(*mocks: FaultUpstream, timeout: float = 5.0) -> None:
    """Every mock let go of every request (the relay closed what it opened)."""
    try:
        wait_until(lambda: all(m.idle for m in mocks), timeout=timeout)
    except AssertionError:
        held = {m.name: (m.in_flight, m.open_streams) for m in mocks if not m.idle}
        raise AssertionError(f"mocks hold requests open (in_flight, streams): {held}") from None


def deployments(relay: RunningRelay, model: str | None = None) -> list[dict[str, Any]]:
    """The `deployments` list of `GET /readyz`, only `model`'s when given."""
    body = httpx.get(relay.url + "/readyz", headers=ADMIN, timeout=5).json()
    rows = body["deployments"]
    return [row for row in rows if model is None or row["model"] == model]


def deployment(relay: RunningRelay, model: str, provider_name: str) -> dict[str, Any]:
    rows = [row for row in deployments(relay, model) if row["provider"] == provider_name]
    assert len(rows) == 1, rows
    return rows[0]


HELLO = [{"role": "user", "content": "hello there"}]
"""What the tests ask; the mocks answer "echo: hello there" (3 completion tokens)."""


def ask(client: openai.OpenAI, model: str, stream: bool = False) -> tuple[str, str, str]:
    """(request id, answer text, response model) of one request that must succeed."""
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=HELLO, stream=stream
    )
    request_id = raw.headers["x-request-id"]
    if not stream:
        completion = raw.parse()
        return request_id, completion.choices[0].message.content, completion.model
    text, models = [], set()
    for chunk in raw.parse():
        models.add(chunk.model)
        text += [c.delta.content or "" for c in chunk.choices]
    assert len(models) == 1, models
    return request_id, "".join(text), models.pop()


def post(relay: RunningRelay, api_key: str, model: str, stream: bool = False) -> httpx.Response:
    return httpx.post(
        relay.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {api_key}"},
        json={"model": model, "messages": HELLO, "stream": stream},
        timeout=30,
    )


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


def seen_by(mocks: dict[str, FaultUpstream], request_id: str) -> list[str]:
    """Which mocks received this client request, one entry per attempt."""
    return [name for name, mock in mocks.items() for rid in mock.request_ids if request_id in rid]


def totals(mocks: dict[str, FaultUpstream]) -> dict[str, int]:
    return {name: mock.total for name, mock in mocks.items()}


def grown(before: dict[str, int], mocks: dict[str, FaultUpstream]) -> dict[str, int]:
    """The mocks that received requests since `before`, and how many."""
    return {n: m.total - before[n] for n, m in mocks.items() if m.total != before[n]}
