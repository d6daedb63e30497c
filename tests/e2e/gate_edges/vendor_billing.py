"""What a vendor bills for a prompt, counted with real tokenizers, taking the dearest: OpenAI's
o200k, the SmolLM2 BPE, and byte fallback as SentencePiece vendors do it (Gemini, Llama 2,
Mistral's first models: a character their vocabulary lacks is a token per UTF-8 byte, and
numbers go digit by digit). A relay whose reservation is below any of them can be overspent."""

from __future__ import annotations

import functools
from typing import Any

import bpe_openai

from llmrelay.metering.vocabulary import LocalVocabulary
from llmrelay.providers.local_engine import packaged_model_path

PER_MESSAGE = 3
"""OpenAI's chat format: `<|start|>{role}<|message|>{content}<|end|>` around each message."""
REPLY_PRIMING = 3


@functools.cache
def _o200k() -> Any:
    return bpe_openai.get_encoding("o200k_base")


@functools.cache
def _smollm2() -> LocalVocabulary:
    return LocalVocabulary(packaged_model_path())


def byte_fallback_tokens(text: str) -> int:
    """Every byte outside ASCII and every digit a token (the rest is not counted)."""
    data = text.encode()
    outside_ascii = len(data) - len(text.encode("ascii", "ignore"))
    return outside_ascii + sum(ch.isdigit() and ch.isascii() for ch in text)


def text_tokens(text: str) -> int:
    return max(
        len(_o200k().encode(text)), _smollm2().count(text.encode()), byte_fallback_tokens(text)
    )


def billed_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return REPLY_PRIMING + sum(PER_MESSAGE + text_tokens(m["content"]) for m in messages)
