"""Bad input, bad keys and broken upstreams: OpenAI-shaped errors with the right status."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.admin.public import exception_handlers
from tests.conftest import RunningRelay
from tests.mocks.openai_upstream import MockOpenAI

HELLO = [{"role": "user", "content": "hello"}]


def assert_openai_error(
    response: httpx.Response, status: int, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    return error


ASSISTANT = "assistant"
INVALID_BODIES = [
    (
        {"model": "gpt-5", "messages": [{"role": ASSISTANT, "tool_calls": "abc"}]},
        "messages[0].tool_calls",
        "invalid_type",
    ),
    (
        {"model": "gpt-5", "messages": [{"role": ASSISTANT, "tool_calls": [{"function": "f"}]}]},
        "messages[0].tool_calls[0].function",
        "invalid_type",
    ),
    (
        {"model": "gpt-5", "messages": HELLO, "tool_choice": {"type": "function", "function": "f"}},
        "tool_choice.function",
        "invalid_type",
    ),
    (
        {"model": "gpt-5", "messages": HELLO, "tool_choice": "always"},
        "tool_choice",
        "invalid_value",
    ),
    (
        {"model": "gpt-5", "messages": HELLO, "tools": [{"type": "function"}]},
        "tools[0].function",
        "invalid_type",
    ),
    (
        {
            "model": "gpt-5",
            "messages": [{"role": "user", "content": [{"type": "file", "file": "x"}]}],
        },
        "messages[0].content[0].file",
        "invalid_type",
    ),
    (
        {
            "model": "gpt-5",
            "messages": [{"role": ASSISTANT, "content": [{"type": "refusal", "refusal": 5}]}],
        },
        "messages[0].content[0].refusal",
        "invalid_type",
    ),
    (
        {"model": "gpt-5", "messages": HELLO, "presence_penalty": "abc"},
        "presence_penalty",
        "invalid_type",
    ),
    (
        {"model": "gpt-5", "messages": HELLO, "frequency_penalty": 3},
        "frequency_penalty",
        "invalid_value",
    ),
    (
        {"model": "thinker-thinking-99999999999999999999", "messages": HELLO},
        "model",
        "invalid_value",
    ),
    (
        {
            "model": "gpt-5",
            "messages": HELLO,
            "thinking": {"type": "enabled", "budget_tokens": 18446744073709551615},
        },
        "thinking.budget_tokens",
        "invalid_value",
    ),
    ({"messages": HELLO}, "model", "missing_required_parameter"),
    ({"model": 5, "messages": HELLO}, "model", "invalid_type"),
    ({"model": "gpt-5"}, "messages", "missing_required_parameter"),
    ({"model": "gpt-5", "messages": []}, "messages", "empty_array"),
    ({"model": "gpt-5", "messages": "hello"}, "messages", "invalid_type"),
    ({"model": "gpt-5", "messages": ["hello"]}, "messages[0]", "invalid_type"),
    (
        {"model": "gpt-5", "messages": [{"role": "wizard", "content": "x"}]},
        "messages[0].role",
        "invalid_value",
    ),
    (
        {"model": "gpt-5", "messages": [{"content": "x"}]},
        "messages[0].role",
        "missing_required_parameter",
    ),
    (
        {"model": "gpt-5", "messages": [{"role": "user"}]},
        "messages[0].content",
        "missing_required_parameter",
    ),
    (
        {"model": "gpt-5", "messages": [{"role": "user", "content": 3}]},
        "messages[0].content",
        "invalid_type",
    ),
    (
        {"model": "gpt-5", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
        "messages[0].content[0].type",
        "invalid_value",
    ),
    (
        {"model": "gpt-5", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        "messages[0].content[0].image_url.url",
        "missing_required_parameter",
    ),
    (
        {"model": "gpt-5", "messages": [{"role": "tool", "content": "x"}]},
        "messages[0].tool_call_id",
        "missing_required_parameter",
    ),
    ({"model": "gpt-5", "messages": HELLO, "temperature": 2.5}, "temperature", "invalid_value"),
    ({"model": "gpt-5", "messages": HELLO, "temperature": -0.1}, "temperature", "invalid_value"),
    ({"model": "gpt-5", "messages": HELLO, "temperature": "hot"}, "temperature", "invalid_type"),
    ({"model": "gpt-5", "messages": HELLO, "top_p": 1.5}, "top_p", "invalid_value"),
    (
        {"model": "gpt-5", "messages": HELLO, "stop": ["a", "b", "c", "d", "e"]},
        "stop",
        "array_above_max_length",
    ),
    ({"model": "gpt-5", "messages": HELLO, "stop": 7}, "stop", "invalid_type"),
    (
        {"model": "gpt-5", "messages": HELLO, "max_tokens": 0},
        "max_tokens",
        "integer_below_min_value",
    ),
    (
        {"model": "gpt-5", "messages": HELLO, "max_tokens": -5},
        "max_tokens",
        "integer_below_min_value",
    ),
    ({"model": "gpt-5", "messages": HELLO, "max_tokens": 1.5}, "max_tokens", "invalid_type"),
    (
        {"model": "gpt-5", "messages": HELLO, "max_completion_tokens": 0},
        "max_completion_tokens",
        "integer_below_min_value",
    ),
    ({"model": "gpt-5", "messages": HELLO, "stream": "yes"}, "stream", "invalid_type"),
    (
        {"model": "gpt-5", "messages": HELLO, "stream_options": {"include_usage": True}},
        "stream_options",
        None,
    ),
    ({"model": "gpt-5", "messages": HELLO, "n": 0}, "n", "invalid_value"),
]


@pytest.mark.parametrize(("body", "param", "code"), INVALID_BODIES)
def test_invalid_requests_name_the_param(
    http: httpx.Client, mock_openai: MockOpenAI, body: dict, param: str, code: str | None
) -> None:
    before = len(mock_openai.received)
    response = http.post("/v1/chat/completions", json=body)
    error = assert_openai_error(response, 400, param, code)
    assert error["type"] == "invalid_request_error"
    assert len(mock_openai.received) == before, "a bad request must not reach the upstream"


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_malformed_bodies_are_400(http: httpx.Client, raw: bytes) -> None:
    response = http.post(
        "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
    )
    assert_openai_error(response, 400)


def test_body_over_the_limit_is_413(http: httpx.Client) -> None:
    huge = {"model": "gpt-5", "messages": [{"role": "user", "content": "x" * 300_000}]}
    response = http.post("/v1/chat/completions", content=orjson.dumps(huge))
    assert_openai_error(response, 413, code="request_too_large")


def test_body_over_the_limit_without_content_length_is_413(http: httpx.Client) -> None:
    def chunks():
        yield b'{"model": "gpt-5", "messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"y" * 10_000
        yield b'"}]}'

    response = http.post("/v1/chat/completions", content=chunks())
    assert_openai_error(response, 413, code="request_too_large")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer sk-not-a-real-key-000000000000000000000000000000"},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Bearer"},
    ],
)
def test_missing_or_bad_key_is_401(relay: RunningRelay, headers: dict[str, str]) -> None:
    response = httpx.post(
        relay.url + "/v1/chat/completions",
        headers=headers,
        json={"model": "gpt-5", "messages": HELLO},
    )
    error = assert_openai_error(response, 401, code="invalid_api_key")
    assert "sk-not-a-real-key-000000000000000000000000000000" not in error["message"]


def test_a_missing_key_says_how_to_send_one(relay: RunningRelay) -> None:
    response = httpx.post(relay.url + "/v1/chat/completions", json={"model": "gpt-5"})
    error = assert_openai_error(response, 401, code="invalid_api_key")
    assert "Authorization: Bearer YOUR_KEY" in error["message"]


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/models", "/admin/keys"])
def test_a_key_sent_without_bearer_is_told_the_header_form(
    relay: RunningRelay, api_key: str, route: str
) -> None:
    response = httpx.request(
        "POST" if "chat" in route else "GET",
        relay.url + route,
        headers={"authorization": api_key},
        json={"model": "gpt-5", "messages": HELLO},
    )
    error = assert_openai_error(response, 401, code="invalid_api_key")
    assert "Authorization: Bearer <key>" in error["message"]
    assert api_key not in error["message"] and api_key[-8:] not in error["message"]


def test_bad_key_raises_authentication_error_in_sdk(relay: RunningRelay) -> None:
    client = openai.OpenAI(base_url=relay.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-5", messages=HELLO)


def test_unknown_model_is_404_with_a_hint(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nonexistent", messages=HELLO)
    error = caught.value.body
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert "GET /v1/models" in error["message"]


def test_an_unknown_model_suggests_the_nearest_names(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json={"model": "gpt5", "messages": HELLO})
    error = assert_openai_error(response, 404, param="model", code="model_not_found")
    assert "Did you mean `gpt-5`?" in error["message"]
    assert "GET /v1/models" in error["message"]
    error = assert_openai_error(http.get("/v1/models/qwen3-maxx"), 404, code="model_not_found")
    assert "`qwen3-max`" in error["message"]


def test_suggestions_are_only_models_the_key_may_use(relay: RunningRelay) -> None:
    key = relay.create_key("only-qwen-suggested", models="qwen3-max")
    response = httpx.post(
        relay.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt5", "messages": HELLO},
    )
    error = assert_openai_error(response, 404, code="model_not_found")
    assert "Did you mean" not in error["message"] and "`gpt-5`" not in error["message"]


def test_model_outside_the_key_allowlist_is_404(relay: RunningRelay) -> None:
    key = relay.create_key("only-qwen", models="qwen3-max")
    limited = openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0)
    assert limited.chat.completions.create(model="qwen3-max", messages=HELLO).choices
    with pytest.raises(openai.NotFoundError):
        limited.chat.completions.create(model="gpt-5", messages=HELLO)
    assert [m.id for m in limited.models.list()] == ["qwen3-max"]
    with pytest.raises(openai.NotFoundError):
        limited.models.retrieve("gpt-5")


def test_unknown_route_and_wrong_method(http: httpx.Client) -> None:
    assert_openai_error(http.get("/v1/nothing-here"), 404)
    assert_openai_error(http.get("/v1/chat/completions"), 405)


def test_upstream_429_keeps_status_and_retry_after(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json={"model": "rate-limited", "messages": HELLO})
    error = assert_openai_error(response, 429)
    assert response.headers["retry-after"] == "7"
    assert error["code"] == "rate_limit_exceeded"


def test_upstream_429_in_the_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="rate-limited", messages=HELLO)


@pytest.mark.parametrize(("model", "status"), [("broken", 502), ("overloaded", 503)])
def test_upstream_5xx_maps_to_502_or_503(http: httpx.Client, model: str, status: int) -> None:
    for stream in (False, True):
        response = http.post(
            "/v1/chat/completions", json={"model": model, "messages": HELLO, "stream": stream}
        )
        assert_openai_error(response, status)


def test_upstream_400_is_passed_through(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json={"model": "picky", "messages": HELLO})
    error = assert_openai_error(response, 400, code="invalid_value")
    assert "logit_bias" in error["message"]


def test_upstream_timeout_is_504(http: httpx.Client) -> None:
    for stream in (False, True):
        response = http.post(
            "/v1/chat/completions", json={"model": "hangs", "messages": HELLO, "stream": stream}
        )
        assert_openai_error(response, 504, code="upstream_timeout")


def test_upstream_credentials_never_leak(relay: RunningRelay, http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json={"model": "wrong-creds", "messages": HELLO})
    error = assert_openai_error(response, 502, code="upstream_auth_error")
    secret = "sk-wrong-upstream-key-9876543210-zyxwvutsrq"
    assert secret[:12] not in response.text
    assert "sk-upstream-secret" not in response.text
    assert secret[:12] not in relay.log() and "sk-upstream-secret" not in relay.log()
    assert "credentials" in error["message"]


def test_error_after_first_byte_is_an_sse_error_event(relay: RunningRelay, api_key: str) -> None:
    with httpx.stream(
        "POST",
        relay.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}"},
        json={
            "model": "breaks-midstream",
            "stream": True,
            "messages": [{"role": "user", "content": "a b c d e f"}],
        },
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    assert "data: [DONE]" not in lines
    last = orjson.loads(lines[-1][6:])
    assert set(last["error"]) == {"message", "type", "param", "code"}
    content = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert all(c["choices"] for c in content)


def test_error_after_first_byte_raises_in_the_sdk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="breaks-midstream",
        stream=True,
        messages=[{"role": "user", "content": "a b c d e f"}],
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_failed_requests_are_in_the_ledger(relay: RunningRelay, http: httpx.Client) -> None:
    cases = [
        ({"model": "rate-limited", "messages": HELLO}, 429, "rate_limit_exceeded"),
        ({"model": "gpt-5", "messages": []}, 400, "empty_array"),
        ({"model": "no-such-model", "messages": HELLO}, 404, "model_not_found"),
    ]
    for body, status, code in cases:
        response = http.post("/v1/chat/completions", json=body)
        row = relay.ledger_row(response.headers["x-request-id"])
        assert row["status"] == status
        assert row["error_code"] == code
        assert row["key_name"] == "tests"
        assert row["total_tokens"] == 0


async def test_an_unexpected_error_is_an_openai_shaped_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug on any Starlette route (admin, customer, models) answers JSON in OpenAI's shape,
    not Starlette's plain-text 500, and its traceback is logged."""

    async def broken(_request: Request) -> Response:
        raise RuntimeError("a bug")

    app = Starlette(routes=[Route("/broken", broken)], exception_handlers=exception_handlers())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        response = await client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert "a bug" not in response.text
    assert "RuntimeError: a bug" in caplog.text and "GET /broken" in caplog.text
