"""The mock OpenAI upstream's `/v1/embeddings` and legacy `/v1/completions`, in OpenAI's wire
format (https://platform.openai.com/docs/api-reference/embeddings,
https://platform.openai.com/docs/api-reference/completions).

Vectors are a function of the text (`mock_vector`), so a test can tell which input went where;
`encoding_format: base64` is answered in base64, as OpenAI does. A completion echoes the
prompt's words, cut at `max_tokens` (16 when unset, OpenAI's default).
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

import orjson
from aiohttp import web

MOCK_DIMENSIONS = 8
LEGACY_DEFAULT_MAX_TOKENS = 16


def mock_vector(item: str | list[int], dimensions: int = MOCK_DIMENSIONS) -> list[float]:
    """The mock's embedding of a text or a token array: its length, then its position."""
    size = float(len(item))
    return [size + j / 8 for j in range(dimensions)]


def _tokens(item: str | list[int]) -> int:
    return len(item.split()) if isinstance(item, str) else len(item)


async def embeddings(request: web.Request, body: dict[str, Any]) -> web.Response:
    raw = body["input"]
    items = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else raw
    dimensions = body.get("dimensions") or MOCK_DIMENSIONS
    data = []
    for index, item in enumerate(items):
        vector: Any = mock_vector(item, dimensions)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(_tokens(item) for item in items)
    answer = {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return web.json_response(answer, dumps=lambda o: orjson.dumps(o).decode())


def _prompts(body: dict[str, Any]) -> list[str]:
    """The prompts as text (token `7` reads as the word `t7`)."""
    prompt = body["prompt"]
    if isinstance(prompt, str):
        return [prompt]
    if all(isinstance(token, int) for token in prompt):
        prompt = [prompt]
    return [p if isinstance(p, str) else " ".join(f"t{t}" for t in p) for p in prompt]


def _words(prompt: str, body: dict[str, Any]) -> list[str]:
    limit = body.get("max_tokens") or LEGACY_DEFAULT_MAX_TOKENS
    return ["echo:", *prompt.split()][:limit]


def _finish(words: list[str], body: dict[str, Any]) -> str:
    limit = body.get("max_tokens") or LEGACY_DEFAULT_MAX_TOKENS
    return "length" if len(words) >= limit else "stop"


def _usage(body: dict[str, Any], answers: list[list[str]]) -> dict[str, int]:
    prompt = sum(len(p.split()) for p in _prompts(body))
    completion = sum(len(words) for words in answers)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def completions(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    answers = [_words(prompt, body) for prompt in _prompts(body)]
    base = {
        "id": "cmpl-mock123",
        "object": "text_completion",
        "created": int(time.time()),
        "model": body["model"],
    }
    if not body.get("stream"):
        choices = [
            {"text": " ".join(w), "index": i, "logprobs": None, "finish_reason": _finish(w, body)}
            for i, w in enumerate(answers)
        ]
        answer = {**base, "choices": choices, "usage": _usage(body, answers)}
        return web.json_response(answer, dumps=lambda o: orjson.dumps(o).decode())
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)

    async def frame(choices: list[dict[str, Any]], **extra: Any) -> None:
        chunk = {**base, "choices": choices, **extra}
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

    for index, words in enumerate(answers):
        for i, word in enumerate(words):
            text = word if i == 0 else " " + word
            await frame([{"text": text, "index": index, "logprobs": None, "finish_reason": None}])
        finish = _finish(words, body)
        await frame([{"text": "", "index": index, "logprobs": None, "finish_reason": finish}])
    if (body.get("stream_options") or {}).get("include_usage"):
        await frame([], usage=_usage(body, answers))
    await response.write(b"data: [DONE]\n\n")
    return response
