"""Upstream state a Messages client must send back, carried in a `thinking` block's signature.

Gemini signs its function calls and text (`thoughtSignature`) and, from Gemini 3 on, refuses a
conversation whose earlier calls come back without their signature. The relay's answers carry
them as `extra_content.google.thought_signature` (Google's own OpenAI-compatible spelling).
Anthropic's clients keep and return nothing but content blocks, and return `thinking` blocks
with their `signature` verbatim (https://docs.anthropic.com/en/docs/build-with-claude/
extended-thinking#preserving-thinking-blocks), so the door sends the signatures in one extra
`thinking` block with no text whose signature the relay minted (a relay_state.py token: the
tool-use id, or "" for the text, to its signature), and puts them back where they came from
when the block returns. Such a block must never reach Anthropic itself.
"""

from __future__ import annotations

from typing import Any

from llmrelay.doors import relay_state
from llmrelay.doors.messages_ids import sanitize_tool_id
from llmrelay.doors.relay_state import TEXT_KEY, put_signatures

__all__ = ["TEXT_KEY", "collect", "decode", "restore", "signature_block", "without_relay_blocks"]


def decode(signature: Any) -> dict[str, str] | None:
    """The signatures a relay-minted block carries; None for any other signature."""
    value = relay_state.decode(signature)
    if value is None:
        return None
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def signature_block(signatures: dict[str, str]) -> dict[str, Any]:
    return {"type": "thinking", "thinking": "", "signature": relay_state.encode(signatures)}


def collect(message: dict[str, Any]) -> dict[str, str]:
    """The signatures on a `chat.completion` message and its tool calls."""
    return relay_state.signatures_of(message, sanitize_tool_id)


restore = put_signatures
"""Put the signatures back on a Chat assistant message and its tool calls."""


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
        and relay_state.is_minted(block.get("signature"))
    )


def _has_relay_block(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(_is_relay_block(b) for b in content)


def _without_relay_block(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "content": [b for b in message["content"] if not _is_relay_block(b)]}
