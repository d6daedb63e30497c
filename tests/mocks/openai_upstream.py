"""A mock OpenAI-compatible upstream that speaks OpenAI's exact wire format.

Its behaviour is chosen by the upstream model name the relay sends, so one server can play
every scenario: normal answers (whole and streamed, with OpenAI's `usage: null` on chunks and
the final `choices: []` usage chunk), tool calls, rate limits with `Retry-After`, 5xx,
refused credentials, hangs, and errors in the middle of a stream. Every request it receives
is kept (headers and body) so tests can assert what the relay actually forwarded.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.mocks import openai_legacy
from tests.mocks.openai_thinking_tools import thinking_tools
from tests.mocks.server import ThreadedServer

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdefghijklmnop"


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class MockOpenAI(ThreadedServer):
    host: str = "127.0.0.1"
    port: int = 0
    received: list[ReceivedRequest] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)
    """The client address of every request: one per connection the relay opened."""
    open_streams: int = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._legacy(openai_legacy.embeddings))
        app.router.add_post("/v1/completions", self._legacy(openai_legacy.completions))

    def last(self) -> ReceivedRequest:
        return self.received[-1]

    def _legacy(self, handler: Any) -> Any:
        """A route of `openai_legacy`, with this mock's key check and request log."""

        async def serve(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.received.append(ReceivedRequest(request.path, headers, body))
            if request.headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
                return _error(401, "Incorrect API key provided", "invalid_request_error", None)
            if body["model"].startswith("bad-request"):
                return _error(400, "Invalid 'input'.", "invalid_request_error", "invalid_value")
            return await handler(request, body)

        return serve

    # ---- the wire format -------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.peers.append(request.transport.get_extra_info("peername")[:2])
        self.received.append(ReceivedRequest(request.path, headers, body))
        if request.headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
            return _error(
                401,
                f"Incorrect API key provided: {request.headers.get('authorization')}",
                "invalid_request_error",
                "invalid_api_key",
            )
        scenario = body["model"]
        handler = SCENARIOS.get(scenario.split(":")[0], _answer)
        return await handler(self, request, body)


def _error(status: int, message: str, kind: str, code: str | None, headers=None) -> web.Response:
    payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.Response(
        status=status, body=orjson.dumps(payload), headers=headers, content_type="application/json"
    )


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if message["role"] == "user":
            content = message["content"]
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


def answer_words(body: dict[str, Any]) -> list[str]:
    """The reply the mock gives: 'echo:' and the user's words, cut at max_tokens words."""
    words = ["echo:", *_last_user_text(body).split()]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return words[:limit] if limit else words


def usage_for(body: dict[str, Any], words: list[str]) -> dict[str, Any]:
    prompt = sum(len(str(m.get("content", "")).split()) + 3 for m in body["messages"])
    return {
        "prompt_tokens": prompt,
        "completion_tokens": len(words),
        "total_tokens": prompt + len(words),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _finish_reason(body: dict[str, Any], words: list[str]) -> str:
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return "length" if limit and len(words) >= limit else "stop"


async def _answer(mock: MockOpenAI, request: web.Request, body: dict[str, Any]):
    words = answer_words(body)
    if body.get("stream"):
        return await _stream_words(mock, request, body, words)
    return web.json_response(
        {
            "id": "chatcmpl-mock123",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"] + "-2026-01-01",
            "system_fingerprint": "fp_mock",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": " ".join(words),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": _finish_reason(body, words),
                }
            ],
            "usage": usage_for(body, words),
            "service_tier": "default",
        },
        dumps=lambda o: orjson.dumps(o).decode(),
    )


async def _stream_words(
    mock: MockOpenAI,
    request: web.Request,
    body: dict[str, Any],
    words: list[str],
    *,
    fail_after: int | None = None,
    first_delay: float = 0.0,
    pause_after_first: float = 0.0,
    word_delay: float = 0.0,
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    mock.open_streams += 1
    try:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": "chatcmpl-mockstream",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"] + "-2026-01-01",
            "system_fingerprint": "fp_mock",
        }

        async def frame(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {**base, "choices": choices, **extra}
            if include_usage and "usage" not in extra:
                chunk["usage"] = None
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

        if first_delay:
            await asyncio.sleep(first_delay)
        await frame(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "", "refusal": None},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        )
        for i, word in enumerate(words):
            if fail_after is not None and i == fail_after:
                error = {
                    "error": {
                        "message": "The server had an error while processing",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
                await response.write(b"data: " + orjson.dumps(error) + b"\n\n")
                return response
            if i == 1 and pause_after_first:
                await asyncio.sleep(pause_after_first)
            if word_delay:
                await asyncio.sleep(word_delay)
            text = word if i == 0 else " " + word
            await frame(
                [{"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}]
            )
        await frame(
            [
                {
                    "index": 0,
                    "delta": {},
                    "logprobs": None,
                    "finish_reason": _finish_reason(body, words),
                }
            ]
        )
        if include_usage:
            await frame([], usage=usage_for(body, words))
        await response.write(b"data: [DONE]\n\n")
        return response
    finally:
        mock.open_streams -= 1


async def _huge_error(mock: MockOpenAI, request: web.Request, body: dict[str, Any]):
    """A 400 whose message is 30 MB long."""
    return _error(400, "bad " * 7_500_000, "invalid_request_error", "invalid_value")


FLOOD_WORD = "x" * 16384


async def _flood(mock: MockOpenAI, request: web.Request, body: dict[str, Any]):
    """A stream as fast and as long as the reader takes it (`max_tokens` 16 KB words)."""
    return await _stream_words(mock, request, body, [FLOOD_WORD] * (body.get("max_tokens") or 8000))


async def _tools(mock: MockOpenAI, request: web.Request, body: dict[str, Any]):
    call = {
        "id": "call_abc",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    if not body.get("stream"):
        return web.json_response(
            {
                "id": "chatcmpl-tools",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [call],
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
            }
        )
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    base = {
        "id": "chatcmpl-tools",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
    }
    deltas = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
    ]
    for delta in deltas:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    chunk = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    usage = {
        **base,
        "choices": [],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
    }
    await response.write(b"data: " + orjson.dumps(usage) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


async def _rate_limited(mock, request, body):
    return _error(
        429,
        "Rate limit reached for requests",
        "requests",
        "rate_limit_exceeded",
        headers={"retry-after": "7"},
    )


async def _server_error(mock, request, body):
    return _error(
        500, "The server had an error while processing your request.", "server_error", None
    )


async def _overloaded(mock, request, body):
    return _error(
        503, "The engine is currently overloaded, please try again later", "server_error", None
    )


async def _bad_request(mock, request, body):
    return _error(400, "Invalid value for 'logit_bias'.", "invalid_request_error", "invalid_value")


async def _hang(mock, request, body):
    await asyncio.sleep(3600)


async def _midstream_error(mock, request, body):
    return await _stream_words(mock, request, body, answer_words(body), fail_after=2)


async def _slow_first_token(mock, request, body):
    return await _stream_words(mock, request, body, answer_words(body), first_delay=1.2)


async def _pause_midstream(mock, request, body):
    """A first word, then a silence of a second (a model thinking aloud or writing a long
    tool call), then the rest."""
    words = answer_words(body)
    return await _stream_words(mock, request, body, words, pause_after_first=1.0)


async def _paced(mock, request, body):
    """The echo, a word every `:SECONDS` of the upstream model's name (0.1 s by default)."""
    _, _, pace = body["model"].partition(":")
    words = answer_words(body)
    return await _stream_words(mock, request, body, words, word_delay=float(pace or 0.1))


async def _slow_stream(mock, request, body):
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    mock.open_streams += 1
    try:
        base = {
            "id": "chatcmpl-slow",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }
        for i in range(600):
            delta = {"role": "assistant", "content": "tick"} if i == 0 else {"content": " tick"}
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await asyncio.sleep(0.05)
        return response
    finally:
        mock.open_streams -= 1


REASONING = ["The user", " greets me;", " answer kindly."]
ANSWER = ["Hello", " there!"]


async def _reasoning(mock, request, body):
    """vLLM >= 0.11 style: the thinking text in `reasoning`, before the answer."""
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 9,
        "total_tokens": 21,
        "completion_tokens_details": {"reasoning_tokens": 6},
    }
    if not body.get("stream"):
        return web.json_response(
            {
                "id": "chatcmpl-think",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "".join(ANSWER),
                            "reasoning": "".join(REASONING),
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    base = {
        "id": "chatcmpl-think",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
    }
    deltas = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning": piece} for piece in REASONING]
    deltas += [{"content": piece} for piece in ANSWER]
    for delta in deltas:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    chunk = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    await response.write(
        b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
    )
    await response.write(b"data: [DONE]\n\n")
    return response


async def _no_usage(mock, request, body):
    """An upstream that never reports usage, whole or streamed (some self-hosted servers)."""
    if body.get("stream"):
        body = {**body, "stream_options": {"include_usage": False}}
        return await _stream_words(mock, request, body, answer_words(body))
    response = await _answer(mock, request, body)
    payload = orjson.loads(response.body)
    del payload["usage"]
    return web.json_response(payload)


SCENARIOS = {
    "mock-no-usage": _no_usage,
    "mock-flood": _flood,
    "mock-huge-error": _huge_error,
    "mock-reasoning": _reasoning,
    "mock-tools": _tools,
    "mock-thinking-tools": thinking_tools,
    "mock-429": _rate_limited,
    "mock-500": _server_error,
    "mock-503": _overloaded,
    "mock-400": _bad_request,
    "mock-hang": _hang,
    "mock-midstream-error": _midstream_error,
    "mock-slow-first-token": _slow_first_token,
    "mock-slow-stream": _slow_stream,
    "mock-paced": _paced,
    "mock-pause-midstream": _pause_midstream,
}
