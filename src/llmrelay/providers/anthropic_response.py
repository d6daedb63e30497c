"""Anthropic Messages answers -> OpenAI's shape: whole messages, finish reasons, usage, errors.

Thinking comes back twice, for two kinds of client: the text as `reasoning_content` (what
most clients show), and the blocks with their signatures as `thinking_blocks` (what a client
sends back on its next turn, so multi-turn tool use with thinking keeps working).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from llmrelay.providers.anthropic_request import JSON_TOOL
from llmrelay.providers.base import UpstreamError
from llmrelay.providers.credentials import Scrubber
from llmrelay.providers.upstream_errors import map_status, retry_after_seconds

log = logging.getLogger("llmrelay.providers.anthropic")

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "gateway_timeout_error": 504,
    "overloaded_error": 529,
}
ERROR_CODES = {"not_found_error": "model_not_found", "request_too_large": "request_too_large"}
"""Anthropic's error types that name an OpenAI code (a 404 on /v1/messages is the model's)."""

CHARS_PER_TOKEN = 4


def finish_reason(stop_reason: Any, json_answer: bool) -> str:
    """OpenAI's finish reason; a JSON-mode answer (the forced tool) finishes with `stop`."""
    if stop_reason == "tool_use" and json_answer:
        return "stop"
    mapped = FINISH_REASONS.get(stop_reason) if isinstance(stop_reason, str) else None
    if mapped is None:
        log.info("unknown Anthropic stop_reason %r mapped to 'stop'", stop_reason)
        return "stop"
    return mapped


def _count(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _reasoning_tokens(usage: Mapping[str, Any], thinking_chars: int, output: int) -> int:
    """Reported by the upstream when it does; else estimated at 4 characters a token."""
    details = usage.get("output_tokens_details")
    if isinstance(details, dict):
        for name in ("reasoning_tokens", "thinking_tokens"):
            if isinstance(details.get(name), int):
                return details[name]
    return min(output, -(-thinking_chars // CHARS_PER_TOKEN))


def openai_usage(usage: Mapping[str, Any], thinking_chars: int) -> dict[str, Any]:
    """Prompt tokens include both cache reads and cache writes, as Anthropic bills them."""
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    prompt = _count(usage, "input_tokens") + cache_read + cache_write
    output = _count(usage, "output_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
        "completion_tokens_details": {
            "reasoning_tokens": _reasoning_tokens(usage, thinking_chars, output)
        },
    }


def tool_arguments(value: Any) -> str:
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def thinking_block(block: Mapping[str, Any]) -> dict[str, Any]:
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data") or ""}
    return {
        "type": "thinking",
        "thinking": block.get("thinking") or "",
        "signature": block.get("signature") or "",
    }


class _Collected:
    """What a Messages answer's content blocks say, sorted into OpenAI's message fields."""

    def __init__(self, blocks: Iterable[Any], json_mode: bool) -> None:
        self.texts: list[str] = []
        self.reasoning: list[str] = []
        self.thinking_blocks: list[dict[str, Any]] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.json_content: str | None = None
        for block in blocks:
            if isinstance(block, dict):
                self._add(block, json_mode)

    def _add(self, block: dict[str, Any], json_mode: bool) -> None:
        kind = block.get("type")
        if kind == "text":
            self.texts.append(block.get("text") or "")
        elif kind in ("thinking", "redacted_thinking"):
            self.thinking_blocks.append(thinking_block(block))
            if kind == "thinking":
                self.reasoning.append(block.get("thinking") or "")
        elif kind == "tool_use" and json_mode and block.get("name") == JSON_TOOL:
            self.json_content = tool_arguments(block.get("input"))
        elif kind == "tool_use":
            arguments = tool_arguments(block.get("input"))
            function = {"name": block.get("name"), "arguments": arguments}
            call = {"id": block.get("id"), "type": "function", "function": function}
            self.tool_calls.append(call)

    def message(self) -> dict[str, Any]:
        content = self.json_content
        if content is None and self.texts:
            content = "".join(self.texts)
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.thinking_blocks:
            message["thinking_blocks"] = self.thinking_blocks
        return message


def completion_from_message(answer: dict[str, Any], json_mode: bool) -> dict[str, Any]:
    """A whole Anthropic `Message` as a `chat.completion`."""
    collected = _Collected(answer.get("content") or (), json_mode)
    json_answer = collected.json_content is not None and not collected.tool_calls
    thinking_chars = sum(len(text) for text in collected.reasoning)
    return {
        "id": f"chatcmpl-{answer.get('id') or 'anthropic'}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.get("model") or "",
        "choices": [
            {
                "index": 0,
                "message": collected.message(),
                "logprobs": None,
                "finish_reason": finish_reason(answer.get("stop_reason"), json_answer),
            }
        ],
        "usage": openai_usage(answer.get("usage") or {}, thinking_chars),
    }


def _error_fields(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def map_anthropic_error(
    provider: str,
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    secrets: Scrubber | Iterable[str],
) -> UpstreamError:
    """An Anthropic error answer (`{"type":"error","error":{type,message}}`) for the client:
    statuses as for every vendor (see upstream_errors), the body in OpenAI's shape."""
    fields = _error_fields(raw)
    message = fields.get("message")
    kind = fields.get("type")
    return map_status(
        provider,
        status,
        message=Scrubber.of(secrets)(message) if isinstance(message, str) else "",
        code=ERROR_CODES.get(kind) if isinstance(kind, str) else None,
        retry_after=retry_after_seconds(headers),
    )


def stream_error(
    provider: str, event: dict[str, Any], secrets: Scrubber | Iterable[str]
) -> UpstreamError:
    """A mid-stream `event: error`: no HTTP status, so the error type stands in for one."""
    error = event.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    status = ERROR_STATUSES.get(kind, 500) if isinstance(kind, str) else 500
    return map_anthropic_error(provider, status, orjson.dumps(event), {}, secrets)
