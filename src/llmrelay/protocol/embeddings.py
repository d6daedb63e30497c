"""An Embeddings request (`POST /v1/embeddings`), checked as OpenAI checks it, and the vectors'
two encodings.

`input` is a string, an array of strings, an array of token ids or an array of such arrays;
no string may be empty and at most 2048 inputs go in one request. `encoding_format` is `float`
(JSON numbers) or `base64` (the little-endian float32 bytes, base64-encoded: what the official
SDKs ask for by default). See https://platform.openai.com/docs/api-reference/embeddings/create.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.protocol.inputs import TextsOrTokens, texts_or_tokens
from llmrelay.protocol.request import ChatRequest, model_of, positive_int

MAX_INPUTS = 2048
ENCODINGS = ("float", "base64")


def embedding_request_from(body: dict[str, Any]) -> ChatRequest:
    """The relay's request for an Embeddings body: each text a user message (so the gate
    bounds its tokens as it bounds any prompt's), token ids counted as they are, and no
    output."""
    model = model_of(body)
    inputs = _inputs(body)
    encoding = body.get("encoding_format", "float")
    if encoding is None:
        encoding = "float"
    if encoding not in ENCODINGS:
        raise invalid_request(
            f"Invalid value for 'encoding_format': {encoding!r}. Supported values are: "
            "'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    positive_int(body, "dimensions")
    return ChatRequest(
        body=body,
        model=model,
        messages=[{"role": "user", "content": text} for text in inputs.texts],
        stream=False,
        include_usage=False,
        max_tokens=None,
        temperature=None,
        top_p=None,
        stop=[],
        produces_output=False,
        prompt_token_ids=inputs.token_count,
    )


def _inputs(body: dict[str, Any]) -> TextsOrTokens:
    inputs = texts_or_tokens(body, "input")
    if inputs.count > MAX_INPUTS:
        raise invalid_request(
            f"Invalid 'input': array too long. Expected an array with maximum length "
            f"{MAX_INPUTS}, but got an array with length {inputs.count} instead.",
            param="input",
            code="array_above_max_length",
        )
    for i, text in enumerate(inputs.texts):
        if not text:
            raise invalid_request(
                f"Invalid 'input[{i}]': empty string. Expected a string with minimum length 1.",
                param=f"input[{i}]",
                code="invalid_value",
            )
    return inputs


def embedding_texts(request: ChatRequest) -> list[str]:
    """The texts to embed, for an upstream that takes text only: token ids are refused (its
    tokenizer is not the one the ids came from)."""
    if request.prompt_token_ids:
        raise invalid_request(
            f"The model '{request.model}' takes text input only: token arrays are accepted "
            "only by models whose upstream shares the tokenizer they came from.",
            param="input",
            code="unsupported_value",
        )
    return [message["content"] for message in request.messages]


def requested_dimensions(request: ChatRequest) -> int | None:
    dimensions = request.body.get("dimensions")
    return dimensions if isinstance(dimensions, int) else None


def dimensions_unsupported(request: ChatRequest, native: int) -> RelayError:
    return invalid_request(
        f"The model '{request.model}' does not support 'dimensions': its vectors have "
        f"{native} dimensions.",
        param="dimensions",
        code="unsupported_parameter",
    )


def encode_base64(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the vector's float32 values, little-endian."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def decode_base64(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))


def encoded(vector: Any, encoding: str) -> Any:
    """`vector` (floats, or base64 from an upstream) in the encoding the client asked for."""
    if encoding == "base64":
        return vector if isinstance(vector, str) else encode_base64(vector)
    return decode_base64(vector) if isinstance(vector, str) else vector
