"""A GGUF model's tokenizer with nothing else loaded: no weights, no context.

llama.cpp reads only the vocabulary when asked (`vocab_only`), and tokenizes with it through
the model's vocab handle. `Llama(vocab_only=True)` is no way to get there: it always creates a
context as well, which a model without weights cannot have (llama-cpp-python 0.3.36 raises
"Failed to create llama_context"), so this goes through llama.cpp's own C API instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import re
import weakref
from collections.abc import Iterator

WHOLE_WORD_PIECE = re.compile(rb" [A-Za-z]+")
"""A token that is a space and a word of ASCII letters: a word the vocabulary holds whole."""


class VocabularyUnavailable(Exception):
    """llama.cpp could not read the model file's vocabulary."""


class LocalVocabulary:
    def __init__(self, model_path: str) -> None:
        import llama_cpp

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        with _quiet_llama_cpp():
            model = llama_cpp.llama_model_load_from_file(model_path.encode(), params)
        if not model:
            raise VocabularyUnavailable(f"llama.cpp could not read {model_path}")
        weakref.finalize(self, llama_cpp.llama_model_free, model)
        self._model = model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._tokenize = llama_cpp.llama_tokenize
        self._piece = llama_cpp.llama_token_to_piece
        self.size = llama_cpp.llama_vocab_n_tokens(self._vocab)

    def count(self, data: bytes) -> int:
        """Tokens in `data` (UTF-8), without BOS or special tokens. Given no room for the
        tokens, llama.cpp answers minus how many there are, so nothing is copied out."""
        if not data:
            return 0
        return abs(self._tokenize(self._vocab, data, len(data), None, 0, False, False))

    def pieces(self) -> Iterator[bytes]:
        """Every token's text, as bytes (a byte-level BPE's `Ġ` comes back as a space)."""
        buffer = ctypes.create_string_buffer(256)
        for token in range(self.size):
            length = self._piece(self._vocab, token, buffer, len(buffer), 0, False)
            if length > 0:
                yield buffer.raw[:length]

    def whole_words(self) -> frozenset[bytes]:
        """ASCII words the vocabulary has a token for, space included (`" the"`): the words
        it holds whole, as it meets them in running text."""
        return frozenset(piece[1:] for piece in self.pieces() if WHOLE_WORD_PIECE.fullmatch(piece))


@contextlib.contextmanager
def _quiet_llama_cpp() -> Iterator[None]:
    """llama-cpp-python prints llama.cpp's log to stderr below its logger's level: a vocabulary
    load would print some sixty lines of model metadata. Errors still show."""
    logger = logging.getLogger("llama-cpp-python")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
