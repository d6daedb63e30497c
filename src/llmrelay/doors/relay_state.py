"""Upstream state the relay hands a client to send back verbatim, in a token of its own.

Some upstreams need part of an earlier answer back on the next turn, in a place the client's
protocol does not have: DeepSeek and Kimi refuse a tool-call turn without its
`reasoning_content` while thinking; Anthropic wants its `thinking` blocks with their
signatures; Gemini refuses calls that come back without their thought signature
(`extra_content.google.thought_signature`, Google's OpenAI-compatible spelling). Clients do
return some opaque fields untouched: Anthropic's `thinking.signature`
(messages_signatures.py) and the Responses API's `reasoning.encrypted_content`
(docs/responses.md). The relay puts the state there as `llmrelay.1.` then base64url JSON; a
sealed token adds `.` and a base64url HMAC-SHA256 of that base64url text, keyed from
the installation's secret, so that one the relay did not mint is ignored. A token with the tag
must never reach the vendor whose field it borrows: that vendor refuses what it did not sign.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import orjson

from llmrelay.providers.gemini_response import read_signature, signature_extra

PREFIX = "llmrelay.1."
TEXT_KEY = ""
"""The key of a signature that came on the message rather than on a tool call."""
KEY_LABEL = b"llmrelay relay-state 1"


def is_minted(value: Any) -> bool:
    """Whether `value` is a token with the relay's tag (sealed or not, authentic or not)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _load(data: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(base64.b64decode(data, altchars=b"-_", validate=True))
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def encode(payload: dict[str, Any]) -> str:
    """An unsealed token (the Messages door's signatures: nothing there needs trusting)."""
    return PREFIX + _b64(orjson.dumps(payload))


def decode(token: Any) -> dict[str, Any] | None:
    """What an unsealed token carries; None for anything else."""
    return _load(token[len(PREFIX) :]) if is_minted(token) else None


class Seal:
    """Sealed tokens under one installation's key."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, KEY_LABEL, hashlib.sha256).digest()

    def _mac(self, data: str) -> str:
        return _b64(hmac.new(self._key, data.encode(), hashlib.sha256).digest()).rstrip("=")

    def seal(self, payload: dict[str, Any]) -> str:
        data = _b64(orjson.dumps(payload))
        return f"{PREFIX}{data}.{self._mac(data)}"

    def open(self, token: Any) -> dict[str, Any] | None:
        """What a token this installation sealed carries; None for any other, altered or
        forged one."""
        if not is_minted(token):
            return None
        data, dot, mac = token[len(PREFIX) :].rpartition(".")
        if not dot or not hmac.compare_digest(mac.encode(), self._mac(data).encode()):
            return None
        return _load(data)


# ---- an assistant message's state ----------------------------------------------------------


def signatures_of(message: dict[str, Any], call_key: Callable[[Any], str]) -> dict[str, str]:
    """The Gemini signatures on a `chat.completion` message and its tool calls, by the key
    `call_key` makes of each call's id (TEXT_KEY: the message's own)."""
    found: dict[str, str] = {}
    text_signature = read_signature(message)
    if text_signature:
        found[TEXT_KEY] = text_signature
    for call in message.get("tool_calls") or ():
        signature = read_signature(call) if isinstance(call, dict) else None
        if signature:
            found[call_key(call.get("id"))] = signature
    return found


def put_signatures(message: dict[str, Any], signatures: dict[str, str]) -> None:
    """Put the signatures back on a Chat assistant message and its tool calls."""
    if TEXT_KEY in signatures:
        message["extra_content"] = signature_extra(signatures[TEXT_KEY])
    for call in message.get("tool_calls") or ():
        if call["id"] in signatures:
            call["extra_content"] = signature_extra(signatures[call["id"]])


def _str_dict(value: Any) -> dict[str, str]:
    items = value.items() if isinstance(value, dict) else ()
    return {k: v for k, v in items if isinstance(k, str) and isinstance(v, str)}


class Gathered:
    """An assistant message's upstream state, gathered from a whole message or chunk by chunk:
    its reasoning text (kept for a turn that called tools: where DeepSeek and Kimi require
    it back), Anthropic's thinking blocks, and Gemini's signatures by tool call id."""

    def __init__(self) -> None:
        self.reasoning: list[str] = []
        self.thinking_blocks: list[dict[str, Any]] = []
        self.signatures: dict[str, str] = {}
        self.called_tools = False

    @classmethod
    def of_message(cls, message: dict[str, Any]) -> Gathered:
        gathered = cls()
        gathered.take(message)
        gathered.signatures = signatures_of(message, str)
        gathered.called_tools = bool(message.get("tool_calls"))
        return gathered

    def take(self, delta: dict[str, Any]) -> None:
        """A chunk's delta (or a whole message): its reasoning text and thinking blocks."""
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            self.reasoning.append(reasoning)
        blocks = delta.get("thinking_blocks")
        if isinstance(blocks, list):
            self.thinking_blocks.extend(b for b in blocks if isinstance(b, dict))

    def keep_signature(self, holder: dict[str, Any], key: str | None) -> None:
        """The signature on `holder` (a delta, or a tool call fragment), kept under `key`."""
        signature = read_signature(holder)
        if signature and key is not None:
            self.signatures[key] = signature

    def payload(self) -> dict[str, Any]:
        """What a token carries; empty when there is nothing to carry."""
        out: dict[str, Any] = {}
        if self.reasoning and self.called_tools:
            out["reasoning_content"] = "".join(self.reasoning)
        if self.thinking_blocks:
            out["thinking_blocks"] = self.thinking_blocks
        if self.signatures:
            out["signatures"] = self.signatures
        return out


def restore(message: dict[str, Any], payload: dict[str, Any]) -> None:
    """Put a token's state back on the Chat assistant message it came from."""
    reasoning = payload.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning and not message.get("reasoning_content"):
        message["reasoning_content"] = reasoning
    blocks = payload.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        message["thinking_blocks"] = [b for b in blocks if isinstance(b, dict)]
    signatures = _str_dict(payload.get("signatures"))
    if signatures:
        put_signatures(message, signatures)
