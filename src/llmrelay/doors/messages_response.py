"""The relay's answer (`chat.completion`) as an Anthropic Messages answer
(https://docs.anthropic.com/en/api/messages): blocks, stop reason and usage."""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from llmrelay.doors import messages_signatures
from llmrelay.doors.messages_ids import sanitize_tool_id
from llmrelay.protocol.usage import Usage

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def stop_reason(finish_reason: Any, used_tools: bool) -> str:
    """Anthropic's `stop_reason` for Chat's `finish_reason` (`tool_use` whenever a tool call
    was answered, as some servers say `stop` then)."""
    if used_tools:
        return "tool_use"
    return STOP_REASONS.get(finish_reason, "end_turn")


def anthropic_usage(usage: Usage) -> dict[str, int]:
    """Anthropic's usage: `input_tokens` excludes the cached prompt tokens, which are counted
    apart (so prompt = input + cache read + cache creation)."""
    cached = usage.cached_tokens or 0
    written = usage.cache_write_tokens or 0
    return {
        "input_tokens": max(0, usage.prompt_tokens - cached - written),
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def tool_input(arguments: Any) -> dict[str, Any]:
    """A call's arguments as the object Anthropic's `input` is ({} when not an object)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = orjson.loads(arguments or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    tool_id = call.get("id") or "toolu_" + secrets.token_hex(12)
    return {
        "type": "tool_use",
        "id": sanitize_tool_id(tool_id),
        "name": str(function.get("name") or ""),
        "input": tool_input(function.get("arguments")),
    }


def content_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Thinking, then text (never an empty one), then tool calls, then the upstream's
    signatures if it gave any (messages_signatures.py)."""
    blocks: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    content = message.get("content")
    if isinstance(content, list):  # parts, from some servers
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if isinstance(content, str) and content:
        blocks.append({"type": "text", "text": content})
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            blocks.append(tool_use_block(call))
    signatures = messages_signatures.collect(message)
    if signatures:  # last, as in a stream, where they are known only at the end
        blocks.append(messages_signatures.signature_block(signatures))
    return blocks


def render_message(model: str, answer: dict[str, Any], usage: Usage) -> dict[str, Any]:
    choices = answer.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    blocks = content_blocks(message)
    used_tools = any(block["type"] == "tool_use" for block in blocks)
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason(choice.get("finish_reason"), used_tools),
        "stop_sequence": None,
        "usage": anthropic_usage(usage),
    }
