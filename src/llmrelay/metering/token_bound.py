"""The most tokens a vendor can bill for a prompt: what budgets reserve and TPM limits count.

Every tokenizer a vendor bills with is a BPE over bytes (OpenAI's o200k and cl100k, Llama 3,
Qwen, DeepSeek, Mistral's Tekken) or a SentencePiece with byte fallback (Gemini and Gemma,
Llama 2, Mistral's first models): a token covers at least one byte of the text, so a text of
N UTF-8 bytes is at most N tokens, plus SentencePiece's leading `▁`. That is the bound here,
less what every tokenizer is known to merge, so that English does not cost four times over:

- a space just before a letter is free: every tokenizer joins it to the word (`" the"`);
- a run of lowercase letters that the local vocabulary holds as a whole word (`" the"` is
  one of its tokens), or as the rest of a capitalised whole word (`"lement"` of `" Element"`,
  whose capital is counted apart), costs that word's estimate: one token per four letters,
  rounded up, times `margin`, and never more than a token per letter.

Everything else is a token per byte: every byte outside ASCII (CJK, kana, Hangul, emoji with
their joiners, selectors and flag letters, accents, other scripts), every digit (Gemini, Qwen
and Llama 2 split numbers digit by digit), punctuation mark, symbol, newline, other space,
capital letter, and every letter of a word the vocabulary does not know.

Only the word estimates can fall short of a vendor's count, and then only for text made of
the vocabulary's rarest words; docs/token-bound.md has the measurements. This runs on every
budgeted request, so it uses C-speed `bytes` operations and one dict lookup per word: no
tokenizer runs.
"""

from __future__ import annotations

import math
from itertools import repeat
from typing import Any

from llmrelay.metering.tokens import TokenCounter, messages_tokens

LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LETTERS_PER_TOKEN = 4
"""A whole word the local vocabulary knows is estimated at a token per this many letters."""

_LOWERCASE_RUNS = bytes(c if 0x61 <= c <= 0x7A else 0x20 for c in range(256))
"""Every byte but a lowercase letter becomes a space, so `split()` gives the lowercase runs."""
_SPACES_AND_LETTERS = bytes(
    0x61 if c in LETTERS else 0x20 if c == 0x20 else 0x2E for c in range(256)
)
"""Letters become `a`, spaces stay, anything else becomes `.`: then `count(b" a")` is the
number of spaces just before a letter."""


def word_savings(whole_words: frozenset[bytes], margin: float) -> dict[bytes, float]:
    """Lowercase run → tokens it saves on a token per letter (a negative number)."""
    costs: dict[bytes, float] = {}
    for word in whole_words:
        estimate = max(1.0, margin * math.ceil(len(word) / LETTERS_PER_TOKEN))
        run = word[1:] if word[:1].isupper() else word
        if run and run.islower():
            # A run may be a word and the rest of another: reserve the dearer of the two.
            costs[run] = max(costs.get(run, 1.0), min(float(len(run)), estimate))
    return {run: cost - len(run) for run, cost in costs.items() if cost < len(run)}


class PromptBound:
    """The prompt's tokens at most, for reservations (`TokenCounter` is the best estimate)."""

    def __init__(self, counter: TokenCounter, margin: float) -> None:
        self.counter = counter
        self.margin = margin
        self._vocabulary = counter.whole_words
        self._savings = word_savings(self._vocabulary, margin)

    def refresh(self) -> None:
        """Rebuild the table of word savings if the tokenizer loaded since: tens of ms for a
        full vocabulary, so start-up does it off the event loop, before the first request."""
        vocabulary = self.counter.whole_words
        if self._vocabulary is not vocabulary:
            self._savings = word_savings(vocabulary, self.margin)
            self._vocabulary = vocabulary

    def text(self, text: str) -> int:
        if not text:
            return 0
        if self._vocabulary is not self.counter.whole_words:  # the tokenizer loaded since
            self.refresh()
        data = text.encode("utf-8", "surrogatepass")
        joined_spaces = data.translate(_SPACES_AND_LETTERS).count(b" a")
        runs = data.translate(_LOWERCASE_RUNS).split()
        saved = sum(map(self._savings.get, runs, repeat(0.0)))
        return len(data) + 1 - joined_spaces + math.ceil(saved)

    def messages(self, messages: list[dict[str, Any]]) -> int:
        return messages_tokens(messages, self.text)
