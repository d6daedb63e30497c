"""Counting tokens offline, for upstreams that report no usage and for streams a client cut.

The counter uses a real BPE tokenizer when it can: the one inside the packaged SmolLM2 GGUF,
read through llama.cpp with only its vocabulary loaded (no weights, nothing downloaded).
Without the local-model extra it falls back to about four characters a token. Either way the
count is an estimate of the upstream's own tokenizer, and the ledger marks it as such.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger("llmrelay.tokens")

MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role markers and separators)."""


class TokenCounter:
    def __init__(self) -> None:
        self._vocab: Any = None

    def load(self) -> None:
        """Load the packaged tokenizer if llama.cpp and the model package are installed."""
        try:
            from llama_cpp import Llama

            from llmrelay.providers.local_engine import packaged_model_path

            self._vocab = Llama(
                model_path=packaged_model_path(), vocab_only=True, n_ctx=0, verbose=False
            )
        except Exception as exc:  # any failure leaves the character estimate
            log.info("token counting falls back to characters/4 (%s)", type(exc).__name__)

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self._vocab is not None:
            return len(self._vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        return math.ceil(len(text) / 4)

    def count_messages(self, messages: list[dict[str, Any]]) -> int:
        total = 0
        for message in messages:
            total += MESSAGE_OVERHEAD + self.count(_text_of(message.get("content")))
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {} if isinstance(call, dict) else {}
                total += self.count(str(function.get("name", "")))
                total += self.count(str(function.get("arguments", "")))
        return total


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class DeliveredTokens:
    """Counts the text a stream delivered as it goes, holding at most `flush_chars` of it."""

    def __init__(self, counter: TokenCounter, flush_chars: int = 16384) -> None:
        self.counter = counter
        self.flush_chars = flush_chars
        self._pending: list[str] = []
        self._pending_chars = 0
        self._tokens = 0

    def add(self, text: str) -> None:
        self._pending.append(text)
        self._pending_chars += len(text)
        if self._pending_chars >= self.flush_chars:
            self._flush()

    def add_delta(self, delta: dict[str, Any]) -> None:
        for field in ("content", "reasoning_content"):
            text = delta.get(field)
            if isinstance(text, str) and text:
                self.add(text)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                self.add(str(function.get("name") or "") + str(function.get("arguments") or ""))

    def _flush(self) -> None:
        if self._pending:
            self._tokens += self.counter.count("".join(self._pending))
            self._pending.clear()
            self._pending_chars = 0

    @property
    def tokens(self) -> int:
        self._flush()
        return self._tokens
