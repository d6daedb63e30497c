"""A Chat Completions request as the local engine's sampling parameters, checked the way
OpenAI checks them (a 400 naming the field), or refused when the local model cannot do it.

`response_format` becomes a GBNF grammar, llama.cpp's own JSON-schema conversion: `json_object`
is any JSON object (llama.cpp's server also takes a `schema` there), `json_schema` its
`schema`. See https://platform.openai.com/docs/api-reference/chat/create.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from llmrelay.protocol.errors import invalid_request, invalid_type
from llmrelay.protocol.request import ChatRequest
from llmrelay.providers.local_engine import SamplingParams

UNSUPPORTED_PARAMS = ("tools", "functions", "audio")
MAX_CHOICES = 16
"""Choices are generated one after the other: `n` beyond this is refused."""
MAX_TOP_LOGPROBS = 20
MAX_LOGIT_BIAS = 100.0
ANY_OBJECT: dict[str, Any] = {"type": "object"}


def sampling_params(request: ChatRequest, max_tokens: int) -> SamplingParams:
    body = request.body
    for name in UNSUPPORTED_PARAMS:
        if body.get(name):
            raise invalid_request(
                f"The local model does not support '{name}'.",
                param=name,
                code="unsupported_parameter",
            )
    seed = body.get("seed")
    logprobs, top_logprobs = _logprobs(body)
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        stop=tuple(request.stop),
        seed=seed if _is_int(seed) else None,
        presence_penalty=float(body.get("presence_penalty") or 0.0),
        frequency_penalty=float(body.get("frequency_penalty") or 0.0),
        n=_choices(request),
        logit_bias=_logit_bias(body),
        grammar=_grammar(body),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
    )


LEGACY_ONLY_PARAMS = ("suffix", "echo", "logprobs", "best_of")
"""Legacy completion fields the local engine does not do."""


def raw_prompt(request: ChatRequest) -> str:
    """A legacy completion's one text prompt, for the engine to continue as it is."""
    for name in LEGACY_ONLY_PARAMS:
        value = request.body.get(name)
        if value is not None and value is not False and not (name == "best_of" and value == 1):
            raise invalid_request(
                f"The local model does not support '{name}' in legacy completions.",
                param=name,
                code="unsupported_parameter",
            )
    if request.prompt_token_ids or len(request.messages) != 1:
        raise invalid_request(
            "The local model completes one text prompt at a time: send 'prompt' as a string.",
            param="prompt",
            code="unsupported_value",
        )
    return request.messages[0]["content"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choices(request: ChatRequest) -> int:
    if request.n > MAX_CHOICES:
        raise invalid_request(
            f"The local model generates at most {MAX_CHOICES} choices per request: "
            f"'n' must be {MAX_CHOICES} or less.",
            param="n",
            code="unsupported_parameter",
        )
    return request.n


def _logprobs(body: dict[str, Any]) -> tuple[bool, int]:
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise invalid_type("logprobs", "a boolean", logprobs)
    top = body.get("top_logprobs")
    if top is None:
        return bool(logprobs), 0
    if not _is_int(top):
        raise invalid_type("top_logprobs", "an integer", top)
    if not 0 <= top <= MAX_TOP_LOGPROBS:
        raise invalid_request(
            f"Invalid 'top_logprobs': {top} is out of range. Expected a value between 0 and "
            f"{MAX_TOP_LOGPROBS}.",
            param="top_logprobs",
            code="invalid_value",
        )
    if not logprobs:
        raise invalid_request(
            "'logprobs' must be set to true when 'top_logprobs' is used.",
            param="top_logprobs",
            code="invalid_value",
        )
    return True, top


def _logit_bias(body: dict[str, Any]) -> dict[int, float]:
    """Token id -> bias added to its logit (-100 all but bans a token, 100 all but forces it).
    The ids are checked against the vocabulary by the provider."""
    value = body.get("logit_bias")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_type("logit_bias", "an object", value)
    bias: dict[int, float] = {}
    for key, amount in value.items():
        if not key.isdigit():
            raise invalid_request(
                f"Invalid key in 'logit_bias': {key!r}. Keys must be token ids.",
                param="logit_bias",
                code="invalid_value",
            )
        valid = isinstance(amount, int | float) and not isinstance(amount, bool)
        if not valid or not math.isfinite(amount) or abs(amount) > MAX_LOGIT_BIAS:
            raise invalid_request(
                f"Invalid value for 'logit_bias' key {key}: {amount!r}. Expected a number "
                f"between -{MAX_LOGIT_BIAS:g} and {MAX_LOGIT_BIAS:g}.",
                param="logit_bias",
                code="invalid_value",
            )
        bias[int(key)] = float(amount)
    return bias


def _response_schema(body: dict[str, Any]) -> tuple[Any, str] | None:
    """The JSON schema the answer must follow, and the field it came from; None for text."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise invalid_type("response_format", "an object", fmt)
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return fmt.get("schema", ANY_OBJECT), "response_format.schema"
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise invalid_type("response_format.json_schema", "an object", spec)
        return spec.get("schema", ANY_OBJECT), "response_format.json_schema.schema"
    raise invalid_request(
        f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and 'json_schema'.",
        param="response_format.type",
        code="invalid_value",
    )


def _grammar(body: dict[str, Any]) -> str | None:
    """llama.cpp's GBNF for the requested format (checked by the provider that llama.cpp
    compiles it)."""
    found = _response_schema(body)
    if found is None:
        return None
    schema, param = found
    if not isinstance(schema, dict):
        raise invalid_type(param, "an object", schema)
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(orjson.dumps(schema).decode())
    except Exception as exc:  # the converter reports a bad schema with asserts and KeyErrors
        raise invalid_request(
            f"Invalid JSON schema in '{param}': {exc or type(exc).__name__}.",
            param=param,
            code="invalid_value",
        ) from None
