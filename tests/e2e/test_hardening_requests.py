"""Requests the relay must refuse cleanly and record faithfully: bodies nested too deep, a
refused body's model in the ledger, free text capped, refusals counted against rate limits,
what `/readyz` tells a stranger, and OpenAI's role-only first stream chunk."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ADMIN, RunningRelay
from tests.e2e.test_errors import assert_openai_error

HELLO = [{"role": "user", "content": "hello"}]


def nested_body(depth: int) -> bytes:
    """A chat body whose `metadata.x` is `depth` levels deep (more than orjson writes)."""
    head = orjson.dumps({"model": "gpt-5", "messages": HELLO})[:-1]
    return head + b',"metadata":{"x":' + b"[" * (depth - 2) + b'"deep"' + b"]" * (depth - 2) + b"}}"


@pytest.mark.parametrize("depth", [200, 300, 1000])
def test_a_body_nested_too_deep_is_a_400_naming_the_field(
    relay: RunningRelay, http: httpx.Client, depth: int
) -> None:
    response = http.post("/v1/chat/completions", content=nested_body(depth))
    error = assert_openai_error(response, 400)
    assert error["param"].startswith("metadata.x")
    assert "128" in error["message"]


def test_a_body_nested_within_the_limit_goes_through(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", content=nested_body(100))
    assert response.status_code == 200, response.text


def test_a_refused_body_keeps_its_model_in_the_ledger(
    relay: RunningRelay, http: httpx.Client
) -> None:
    response = http.post("/v1/chat/completions", json={"model": "gpt-5", "messages": HELLO, "n": 0})
    assert_openai_error(response, 400, param="n")
    row = relay.ledger_row(response.headers["x-request-id"])
    assert (row["model"], row["status"]) == ("gpt-5", 400)


def test_a_huge_model_name_is_capped_in_the_answer_and_the_ledger(
    relay: RunningRelay, http: httpx.Client
) -> None:
    name = "m" * 150_000
    response = http.post("/v1/chat/completions", json={"model": name, "messages": HELLO})
    assert_openai_error(response, 404, code="model_not_found")
    assert len(response.content) < 4096
    row = relay.ledger_row(response.headers["x-request-id"])
    assert row["model"] == name[:200]  # the ledger column's width


def test_refusals_count_against_the_rate_limit(relay: RunningRelay) -> None:
    created = httpx.post(
        relay.url + "/admin/keys", headers=ADMIN, json={"name": "refused-rpm", "rpm": 3}
    )
    key = created.json()["key"]
    auth = {"authorization": f"Bearer {key}"}
    statuses = [
        httpx.post(
            relay.url + "/v1/chat/completions",
            headers=auth,
            json={"model": "no-such-model", "messages": HELLO},
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [404, 404, 404, 429, 429]


def test_readyz_tells_a_stranger_only_whether_it_is_ready(relay: RunningRelay) -> None:
    stranger = httpx.get(relay.url + "/readyz")
    assert stranger.status_code == 200
    assert stranger.json() == {"status": "ready"}
    admin = httpx.get(relay.url + "/readyz", headers=ADMIN).json()
    assert admin["status"] == "ready"
    assert {"models", "providers", "deployments"} <= set(admin)


def first_chunks(http: httpx.Client, model: str) -> list[dict[str, Any]]:
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": model, "stream": True, "messages": HELLO},
    ) as response:
        assert response.status_code == 200
        return [
            orjson.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")
        ]


def test_every_stream_opens_with_a_role_only_chunk(http: httpx.Client) -> None:
    for model in ("gpt-5", "smollm2-135m-instruct"):
        chunks = first_chunks(http, model)
        opening = chunks[0]["choices"][0]["delta"]
        assert (opening["role"], opening["content"]) == ("assistant", ""), model
        assert not any(v for k, v in opening.items() if k != "role"), model
        assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:] if c["choices"])
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert text, model
