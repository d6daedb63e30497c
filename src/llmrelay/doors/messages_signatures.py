"""Upstream state a Messages client must send back, carried in a `thinking` block's signature.

Gemini signs its function calls and text (`thoughtSignature`) and, from Gemini 3 on, refuses a
conversation whose earlier calls come back without their signature. The relay's answers carry
them as `extra_content.google.thought_signature` (Google's own OpenAI-compatible spelling).
Anthropic's clients keep and return nothing but content blocks, and return `thinking` blocks
with their `signature` verbatim (https://docs.anthropic.com/en/docs/build-with-claude/
extended-thinking#preserving-thinking-blocks), so the door sends the signatures in one extra
`thinking` block with no text whose signature the relay minted (`llmrelay.1.` then base64url
JSON: the tool-use id, or "" for the text, to its signature), and puts them back where they
came from when the block returns. Such a block must never reach Anthropic itself.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from llmrelay.doors.messages_ids import sanitize_tool_id
from llmrelay.providers.gemini_response import read_signature, signature_extra

RELAY_SIGNATURE_PREFIX = "llmrelay.1."
TEXT_KEY = ""
"""The key of the signature that came on the message rather than on a tool call."""


def encode(signatures: dict[str, str]) -> str:
    data = base64.urlsafe_b64encode(orjson.dumps(signatures)).decode()
    return RELAY_SIGNATURE_PREFIX + data


def decode(signature: Any) -> dict[str, str] | None:
    """The signatures a relay-minted block carries; None for any other signature."""
    if not isinstance(signature, str) or not signature.startswith(RELAY_SIGNATURE_PREFIX):
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(signature[len(RELAY_SIGNATURE_PREFIX) :]))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(value, dict):
        return None
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def signature_block(signatures: dict[str, str]) -> dict[str, Any]:
    return {"type": "thinking", "thinking": "", "signature": encode(signatures)}


def collect(message: dict[str, Any]) -> dict[str, str]:
    """The signatures on a `chat.completion` message and its tool calls."""
    found: dict[str, str] = {}
    text_signature = read_signature(message)
    if text_signature:
        found[TEXT_KEY] = text_signature
    for call in message.get("tool_calls") or ():
        signature = read_signature(call) if isinstance(call, dict) else None
        if signature:
            found[sanitize_tool_id(call.get("id"))] = signature
    return found


def restore(message: dict[str, Any], signatures: dict[str, str]) -> None:
    """Put the signatures back on a Chat assistant message and its tool calls."""
    if TEXT_KEY in signatures:
        message["extra_content"] = signature_extra(signatures[TEXT_KEY])
    for call in message.get("tool_calls") or ():
        if call["id"] in signatures:
            call["extra_content"] = signature_extra(signatures[call["id"]])


def without_relay_blocks(body: dict[str, Any]) -> dict[str, Any]:
    """The body without the relay's signature blocks, for Anthropic itself (which refuses a
    signature it did not make); the body itself when it has none."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(_has_relay_block(m) for m in messages):
        return body
    kept = [_without_relay_block(m) if _has_relay_block(m) else m for m in messages]
    return {**body, "messages": kept}


def _is_relay_block(block: Any) -> bool:
    return (
        isinstance(block, dict)
        and block.get("type") == "thinking"
        and decode(block.get("signature")) is not None
    )


def _has_relay_block(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(_is_relay_block(b) for b in content)


def _without_relay_block(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "content": [b for b in message["content"] if not _is_relay_block(b)]}
