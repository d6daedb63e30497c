"""Counting tokens offline: the relay's best estimate of what an upstream billed, for upstreams
that report no usage and for streams a client cut.

The counter uses a real BPE tokenizer when it can: the one inside the packaged SmolLM2 GGUF,
read through llama.cpp with only its vocabulary loaded (no weights, nothing downloaded).
Without it (no local-model extra, or llama.cpp cannot read the file) it falls back to about
four characters a token, says so at start with a WARNING, and `/readyz` shows it. Either way
the count is an estimate of the upstream's own tokenizer, and the ledger marks it as such.

This is *not* what budgets reserve: an estimate can fall short of what a vendor bills (CJK,
emoji, digits). Reservations use `token_bound.PromptBound`, which cannot.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from llmrelay.metering.vocabulary import LocalVocabulary

log = logging.getLogger("llmrelay.tokens")

MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role markers and separators)."""


class TokenCounter:
    def __init__(self) -> None:
        self.vocabulary: LocalVocabulary | None = None
        self.whole_words: frozenset[bytes] = frozenset()
        """ASCII words the tokenizer holds as one token (empty without the tokenizer)."""
        self.problem: str | None = "not loaded yet"
        """Why the tokenizer is not in use, or None when it is."""

    def load(self, model_path: str | None = None) -> None:
        """Load the tokenizer of `model_path` (a GGUF; by default the packaged SmolLM2's).
        A failure leaves the fallback, logged as a WARNING with the reason."""
        try:
            from llmrelay.providers.local_engine import packaged_model_path

            vocabulary = LocalVocabulary(model_path or packaged_model_path())
            self.whole_words = vocabulary.whole_words()
            self.vocabulary, self.problem = vocabulary, None
        except Exception as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            log.warning(
                "no tokenizer (%s): usage estimates fall back to characters/4, and budget "
                "reservations count a token per letter of every word",
                self.problem,
            )

    @property
    def status(self) -> str:
        """`bpe` with the packaged tokenizer, `fallback` without it (for `/readyz`)."""
        return "bpe" if self.vocabulary is not None else "fallback"

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self.vocabulary is not None:
            return self.vocabulary.count(text.encode("utf-8", "surrogatepass"))
        return math.ceil(len(text) / 4)

    def count_messages(self, messages: list[dict[str, Any]]) -> int:
        return messages_tokens(messages, self.count)


def messages_tokens(messages: list[dict[str, Any]], count: Callable[[str], int]) -> int:
    """A chat's tokens by `count`: each message's text and tool calls, plus its overhead."""
    total = 0
    for message in messages:
        total += MESSAGE_OVERHEAD + count(_text_of(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {} if isinstance(call, dict) else {}
            total += count(str(function.get("name", "")))
            total += count(str(function.get("arguments", "")))
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
