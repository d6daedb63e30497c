"""The Provider interface: translate the OpenAI shape to one upstream and back.

A provider never sees keys, budgets or the client's socket. It gets an `UpstreamCall` and
returns either a whole `chat.completion` object or an opened stream of
`chat.completion.chunk` objects. Failures are `UpstreamError`s that already carry the
status and OpenAI-shaped message the client should see.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from llmrelay.config import ModelConfig, Timeouts
from llmrelay.protocol.error_codes import UPSTREAM_ERROR_CODES, UPSTREAM_ERROR_TYPES, error_type
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.protocol.request import ChatRequest

if TYPE_CHECKING:
    from llmrelay.providers.direct_chunks import DirectChunks


@dataclass(slots=True)
class UpstreamCall:
    request: ChatRequest
    upstream_model: str
    request_id: str
    model: ModelConfig = field(default_factory=lambda: ModelConfig(provider=""))
    reasoning: ReasoningIntent | None = None
    """The effective reasoning intent: from the model-name suffix, else the body's fields."""
    reasoning_from_name: bool = False
    timeouts: Timeouts | None = None
    """The model's own timeouts, over the provider's, when it sets any."""
    max_tokens: int | None = None
    """The answer's cap: the client's `max_tokens`, or the one its budget reservation
    assumed (the client set none, and the upstream must not write past what was reserved)."""
    direct: bool = False
    """A stream may be read on the relay's own client and pumped to the client's socket from
    its read callbacks (`providers.direct_chunks`, `wire/pump.py`)."""
    trace_headers: dict[str, str] | None = None
    """W3C `traceparent` (and `tracestate`) of the call's span, when tracing is on."""

    def __post_init__(self) -> None:
        if self.max_tokens is None:
            self.max_tokens = self.request.max_tokens


class UpstreamError(RelayError):
    """An upstream failed; `status` is what the relay answers, `upstream_status` what it got.

    Its type and code are always from the relay's vocabulary (protocol/error_codes): a code
    outside it is dropped, and a type outside it (or none) follows from the status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = "upstream_error",
        param: str | None = None,
        retry_after: float | None = None,
        upstream_status: int | None = None,
        health_failure: bool = True,
    ) -> None:
        code = code if code in UPSTREAM_ERROR_CODES else None
        if type not in UPSTREAM_ERROR_TYPES:
            type = error_type(status, code)
        super().__init__(
            status, message, type=type, param=param, code=code, retry_after=retry_after
        )
        self.upstream_status = upstream_status
        self.health_failure = health_failure
        """False for back-pressure (a full local queue): retry elsewhere, but the
        deployment is not broken."""


def upstream_timeout(provider: str, what: str) -> UpstreamError:
    return UpstreamError(
        504,
        f"The upstream provider '{provider}' timed out ({what}).",
        code="upstream_timeout",
    )


def upstream_unreachable(provider: str, reason: str) -> UpstreamError:
    return UpstreamError(
        502,
        f"The upstream provider '{provider}' could not be reached: {reason}.",
        code="upstream_unreachable",
    )


class ChunkStream(abc.ABC):
    """An opened upstream stream: the upstream has accepted the request.

    Iterating yields OpenAI `chat.completion.chunk` dicts as they arrive; `aclose` releases the
    upstream connection at once (a client that went away must not keep an upstream busy).
    """

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The same chunks, grouped as they arrived together (one upstream read, say)."""
        async for chunk in self:
            yield [chunk]

    @abc.abstractmethod
    async def aclose(self) -> None: ...


class Provider(abc.ABC):
    """One configured upstream. Subclasses register themselves by `kind`."""

    kind: ClassVar[str]
    uses_image_fetcher: ClassVar[bool] = False
    takes_tools: ClassVar[bool] = True
    """Whether requests with `tools` reach the model (False: refused with 400)."""
    takes_images: ClassVar[bool] = True
    """Whether image content parts can reach the model (False: text only)."""
    chats: ClassVar[bool] = True
    """Whether it answers chat (and so the Messages and Responses doors): an embedding
    model does not."""
    registry: ClassVar[dict[str, type[Provider]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "kind", None):
            Provider.registry[cls.kind] = cls

    def __init__(self, name: str) -> None:
        self.name = name

    async def start(self) -> None:
        """Open pools or load weights; called once in the app's lifespan."""

    async def close(self) -> None:
        """Release everything `start` opened."""

    @property
    def ready(self) -> bool:
        return True

    def status(self) -> dict[str, Any]:
        """What `/readyz` shows about this provider."""
        return {"kind": self.kind, "ready": self.ready}

    def speaks(self, protocol: str, model: ModelConfig) -> bool:
        """Whether this upstream takes a door's protocol as it is for `model` (a
        pass-through), besides the relay's own request (`complete`, `open_stream`)."""
        return False

    async def complete_native(self, call: UpstreamCall, native: Any) -> dict[str, Any]:
        """A pass-through's whole answer, in the door's protocol (only if `speaks` it)."""
        raise NotImplementedError

    async def open_native(self, call: UpstreamCall, native: Any, direct: bool = False) -> Any:
        """A pass-through's stream (a `providers.native.RawStream`), once accepted; with
        `direct`, a `providers.direct_stream.DirectStream` where the provider can."""
        raise NotImplementedError

    @abc.abstractmethod
    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        """A whole `chat.completion` object, `usage` included when the upstream reported it."""

    @abc.abstractmethod
    async def open_stream(self, call: UpstreamCall) -> ChunkStream | DirectChunks:
        """Connect and return once the upstream accepted the request (so errors are statuses);
        with `call.direct`, a `providers.direct_chunks.DirectChunks` where the provider can."""

    async def embed(self, call: UpstreamCall) -> dict[str, Any]:
        """Embeddings of the call's inputs: `{"data": [{"index", "embedding": [floats] or
        base64}], "usage": {prompt_tokens, completion_tokens: 0, total_tokens}}`. Providers
        that can embed override it; the rest refuse with a 400."""
        raise unsupported_operation(call, "embeddings")

    async def complete_text(self, call: UpstreamCall) -> dict[str, Any]:
        """A legacy (raw text) completion, as a whole `chat.completion` whose messages carry
        the text. Providers that can override it; the rest refuse with a 400."""
        raise unsupported_operation(call, "legacy completions (/v1/completions)")

    async def open_text_stream(self, call: UpstreamCall) -> ChunkStream | DirectChunks:
        """A legacy completion's stream, as `chat.completion.chunk`s (see `complete_text`)."""
        raise unsupported_operation(call, "legacy completions (/v1/completions)")


def unsupported_operation(call: UpstreamCall, operation: str) -> RelayError:
    """The 400 for a model whose upstream cannot do what the door asks of it."""
    return RelayError(
        400,
        f"The model '{call.request.model}' does not support {operation}.",
        param="model",
        code="unsupported_value",
    )


def serves(provider: Provider, endpoint: str) -> bool:
    """Whether `provider` answers a door's requests (`ledger.ENDPOINTS`' names)."""
    operation = {"embeddings": "embed", "completions": "complete_text"}.get(endpoint)
    if operation is None:
        return provider.chats
    return getattr(type(provider), operation) is not getattr(Provider, operation)


def carries_token(chunks: list[dict[str, Any]]) -> bool:
    """Some choice has a finish reason or a delta with anything but its role: a first token.
    (A role-only chunk, or a usage chunk, is not one.)"""
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if choice.get("finish_reason") or (
                isinstance(delta, dict) and any(v for k, v in delta.items() if k != "role")
            ):
                return True
    return False
