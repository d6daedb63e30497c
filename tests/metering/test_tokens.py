"""The relay's tokenizer: the packaged SmolLM2 vocabulary loads through llama.cpp (vocabulary
only), and a tokenizer that cannot load is a WARNING and a visible fallback, never a crash."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from llmrelay.metering.tokens import TokenCounter
from llmrelay.metering.vocabulary import LocalVocabulary, VocabularyUnavailable


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    loaded = TokenCounter()
    loaded.load()
    return loaded


def test_the_packaged_tokenizer_loads(counter: TokenCounter) -> None:
    assert counter.problem is None, counter.problem
    assert counter.status == "bpe"
    assert counter.vocabulary is not None and counter.vocabulary.size > 10_000


def test_it_counts_bpe_tokens_not_characters(counter: TokenCounter) -> None:
    assert counter.count("hello world") == 2
    assert counter.count("") == 0
    digits = "31415926535897932384"
    assert counter.count(digits) == len(digits)  # SmolLM2 splits numbers digit by digit
    chinese = "人工智能是计算机科学的一个分支"
    assert counter.count(chinese) > len(chinese)  # characters/4 would say 4


def test_it_knows_which_words_it_holds_whole(counter: TokenCounter) -> None:
    assert {b"the", b"hello", b"Element"} <= counter.whole_words
    assert b"xqzv" not in counter.whole_words
    assert all(word.isascii() and word.isalpha() for word in counter.whole_words)


def test_a_vocabulary_llama_cpp_cannot_read_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file" * 100)
    with pytest.raises(VocabularyUnavailable):
        LocalVocabulary(str(broken))


def test_a_tokenizer_that_cannot_load_is_a_warning_and_a_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\xff" * 64)
    counter = TokenCounter()
    with caplog.at_level(logging.INFO, logger="llmrelay.tokens"):
        counter.load(str(broken))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "no tokenizer" in warnings[0].getMessage()
    assert counter.status == "fallback" and "VocabularyUnavailable" in (counter.problem or "")
    assert counter.count("a" * 40) == 10  # characters/4
