"""The request log (docs/observability.md): one line per request on the relay's stderr, with
who asked, for what, what it cost and how long it took; never a secret; bodies only when
`server.log_bodies` is on, and cut short then."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, stop_relay, wait_ready, wait_until
from tests.e2e.metrics_support import launch_with_stderr, lines_of, metrics_config
from tests.e2e.races import ASK
from tests.e2e.test_budgets_limits import new_key
from tests.mocks.openai_upstream import MockOpenAI


@pytest.fixture(scope="module")
def text_relay(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    directory = tmp_path_factory.mktemp("text-log")
    relay = wait_ready(
        launch_with_stderr(directory, metrics_config(mock_openai), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    )
    yield relay
    stop_relay(relay)


@pytest.fixture(scope="module")
def json_relay(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    config = metrics_config(mock_openai)
    config["server"].update(log_format="json", log_bodies=True)
    directory = tmp_path_factory.mktemp("json-log")
    relay = wait_ready(launch_with_stderr(directory, config, LLMRELAY_ADMIN_KEY=ADMIN_KEY))
    yield relay
    stop_relay(relay)


def post(relay: RunningRelay, key: str, **body) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": "priced", "messages": ASK, **body}
    return httpx.post(relay.base_url + "/chat/completions", json=body, headers=headers, timeout=30)


def logged(relay: RunningRelay, request_id: str) -> list[str]:
    return wait_until(lambda: lines_of(relay, request_id))


def test_one_readable_line_per_request_with_its_fields(text_relay: RunningRelay) -> None:
    key = new_key(text_relay)
    key_id = httpx.get(
        text_relay.base_url + "/key", headers={"authorization": f"Bearer {key}"}, timeout=10
    ).json()["id"]
    answer = post(text_relay, key)
    request_id = answer.headers["x-request-id"]
    (line,) = logged(text_relay, request_id)
    row = text_relay.ledger_row(request_id)
    assert " INFO llmrelay.request: " + request_id in line
    for field in (
        "door=chat",
        "model=priced",
        "deployment=mock/mock-echo",
        "status=200",
        f"key={row['key_name']} key_id={key_id}",
        f"tokens={row['prompt_tokens']}+{row['completion_tokens']}",
        f"cost=${row['cost_usd']:.6f}",
        f"latency={row['latency_ms']:.1f}ms",
        f"ttft={row['ttft_ms']:.1f}ms",
        "client=127.0.0.1",
    ):
        assert field in line, field
    log = text_relay.log()
    assert key not in log and ADMIN_KEY not in log
    assert "hello there" not in log  # no prompt, no answer, unless log_bodies


def test_a_refusal_and_a_stream_get_their_lines_too(text_relay: RunningRelay) -> None:
    broke = new_key(text_relay, budget_usd=0.000001)
    refused = post(text_relay, broke)
    (line,) = logged(text_relay, refused.headers["x-request-id"])
    assert "status=429 error=insufficient_quota" in line and "deployment=-" in line
    assert wait_until(lambda: "is over its budget" in text_relay.log())
    streamed = post(text_relay, new_key(text_relay), stream=True)
    assert streamed.status_code == 200
    (line,) = logged(text_relay, streamed.headers["x-request-id"])
    assert line.endswith(" stream") and "status=200" in line


def test_json_lines_parse_and_bodies_are_logged_cut_short(json_relay: RunningRelay) -> None:
    key = new_key(json_relay)
    long_prompt = "lorem " * 1000
    answer = post(json_relay, key, messages=[{"role": "user", "content": long_prompt}])
    request_id = answer.headers["x-request-id"]
    (line,) = logged(json_relay, request_id)
    entry = orjson.loads(line)
    row = json_relay.ledger_row(request_id)
    assert entry["logger"] == "llmrelay.request" and entry["level"] == "info"
    assert entry["request_id"] == request_id and entry["key_id"] == row["key_id"]
    assert entry["door"] == "chat" and entry["deployment"] == "mock/mock-echo"
    assert entry["status"] == 200 and entry["error"] is None
    assert entry["cost_usd"] == row["cost_usd"] and entry["ttft_ms"] == row["ttft_ms"]
    assert entry["prompt_tokens"] == row["prompt_tokens"] and entry["client"] == "127.0.0.1"
    assert entry["prompt"].startswith('[{"role":"user","content":"lorem lorem')
    assert entry["prompt"].endswith(" chars]") and len(entry["prompt"]) < 2100
    assert "echo: lorem" in entry["response"]
    # Every line on stderr is a JSON object: uvicorn's and the relay's warnings too.
    post(json_relay, key, model="doomed")  # a failover: warning lines
    wait_until(lambda: "failing over" in json_relay.log())
    for text in json_relay.log().splitlines():
        if text.strip() and not text.startswith(("/", "  warnings.warn")):  # (Python's own)
            assert isinstance(orjson.loads(text), dict), text
    assert key not in json_relay.log()
