"""A legacy Completions request (`POST /v1/completions`), checked as OpenAI checks it.

`prompt` is a string, an array of strings, an array of token ids or an array of such arrays;
`max_tokens` defaults to 16, as OpenAI's does. Each text prompt is a user message of the
relay's request, so the gate bounds it as any prompt; token ids are counted as they are. See
https://platform.openai.com/docs/api-reference/completions/create.
"""

from __future__ import annotations

import math
from typing import Any

from llmrelay.protocol.errors import invalid_request, invalid_type
from llmrelay.protocol.inputs import texts_or_tokens
from llmrelay.protocol.request import (
    ChatRequest,
    check_n,
    model_of,
    number_in,
    positive_int,
    stop_sequences,
    stream_flags,
)

DEFAULT_MAX_TOKENS = 16
MAX_LOGPROBS = 5


def completion_request_from(body: dict[str, Any]) -> ChatRequest:
    model = model_of(body)
    prompts = texts_or_tokens(body, "prompt")
    stream, include_usage = stream_flags(body)
    check_n(body)
    number_in(body, "presence_penalty", -2.0, 2.0)
    number_in(body, "frequency_penalty", -2.0, 2.0)
    logprobs = body.get("logprobs")
    if logprobs is not None:
        if isinstance(logprobs, bool) or not isinstance(logprobs, int):
            raise invalid_type("logprobs", "an integer", logprobs)
        number_in(body, "logprobs", 0, MAX_LOGPROBS)
    for name in ("echo",):
        if body.get(name) is not None and not isinstance(body[name], bool):
            raise invalid_type(name, "a boolean", body[name])
    if body.get("suffix") is not None and not isinstance(body["suffix"], str):
        raise invalid_type("suffix", "a string", body["suffix"])
    request = ChatRequest(
        body=body,
        model=model,
        messages=[{"role": "user", "content": text} for text in prompts.texts],
        stream=stream,
        include_usage=include_usage,
        max_tokens=positive_int(body, "max_tokens") or DEFAULT_MAX_TOKENS,
        temperature=number_in(body, "temperature", 0.0, 2.0),
        top_p=number_in(body, "top_p", 0.0, 1.0),
        stop=stop_sequences(body),
        prompt_token_ids=prompts.token_count,
    )
    request.output_copies = prompts.count * _candidates(body, request.n)
    return request


def _candidates(body: dict[str, Any], n: int) -> int:
    """`best_of` candidates are generated for each `n` choice returned (rounded up)."""
    best_of = positive_int(body, "best_of")
    if best_of is None:
        return 1
    if best_of < n:
        raise invalid_request(
            "Invalid 'best_of': it must be greater than or equal to 'n'.",
            param="best_of",
            code="invalid_value",
        )
    return math.ceil(best_of / n)
