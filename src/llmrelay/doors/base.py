"""The Door interface: one client protocol, in and out, around the shared pipeline.

A door knows its protocol and nothing else. It reads the caller's credentials, parses a body
into the relay's request (OpenAI Chat's shape, `protocol/request.py`), and encodes the
relay's answer back: a whole answer, a stream (frame by frame from the relay's internal
`chat.completion.chunk`s), or an error. Authentication, limits and budgets, routing with its
retries and fallbacks, metering and the ledger are the pipeline's (`pipeline.py`), the same
for every door. A new client protocol is one module here and a line in the route table.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from llmrelay.metering.meter import StreamMeter
from llmrelay.metering.tokens import TokenCounter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.request import ChatRequest
from llmrelay.protocol.usage import Usage
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.native import NativeRequest
from llmrelay.wire.credentials import bearer_credentials
from llmrelay.wire.sse import PING

if TYPE_CHECKING:
    from llmrelay.providers.base import ChunkStream, Provider
    from llmrelay.providers.direct_chunks import DirectChunks
    from llmrelay.relay import Relay
    from llmrelay.store.keys import ApiKey

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Inbound:
    """A request as a door parsed it: the relay's request, plus what the door keeps to answer
    in its own protocol."""

    request: ChatRequest
    """The request in the relay's own shape (OpenAI Chat's), for the gate, the router and
    every upstream that does not speak the door's protocol."""
    body: dict[str, Any] | None = None
    """The client's body as it came, for an upstream that speaks the door's protocol itself
    (passed through with only `model` changed)."""
    state: Any = None
    """Whatever else the door needs to answer in its protocol."""
    headers: dict[str, str] = field(default_factory=dict)
    """The client's protocol headers a pass-through forwards (`Door.forwarded_headers`)."""


class StreamEncoder(abc.ABC):
    """Frames of one door's stream, from the relay's internal chunks (each call's bytes may
    be empty: nothing to send for that step)."""

    ping: ClassVar[bytes] = PING
    """What keeps a silent stream alive once its first frames have gone out (before them,
    always the SSE comment `: ping`): a protocol with a ping event of its own says so."""

    def begin(self) -> bytes:
        """What opens the stream, sent with the first chunk's frames (OpenAI Chat: nothing).
        Only SSE comments (`: ping`) may have reached the client before it."""
        return b""

    @abc.abstractmethod
    def delta(self, chunk: dict[str, Any]) -> bytes:
        """The frames for one internal chunk (its usage has been taken by the meter)."""

    async def finish(self, meter: StreamMeter) -> None:
        """Awaited when the stream finished, before `end`: a door that keeps its answers
        stores this one here, so it is kept before the client hears it is complete. A
        RelayError raised here ends the stream with `error` instead."""

    @abc.abstractmethod
    def end(self, meter: StreamMeter) -> bytes:
        """What closes a stream that finished: final usage, the end marker."""

    @abc.abstractmethod
    def error(self, error: RelayError) -> bytes:
        """What closes a stream cut by an error, after its first byte."""


class Door(abc.ABC):
    """One client protocol. Subclasses are stateless: one instance serves every request."""

    endpoint: ClassVar[str]
    """The door's name in the ledger (`chat`, `messages`, `responses`, ...)."""
    protocol: ClassVar[str]
    """The wire protocol it speaks (`openai-chat`, `anthropic-messages`, ...): an upstream
    that speaks it too is passed the client's body through."""
    methods: ClassVar[tuple[str, ...]] = ("POST",)

    forwarded_headers: ClassVar[frozenset[bytes]] = frozenset()
    """The client's protocol headers (lower case) an upstream that speaks the protocol gets
    too (`anthropic-beta`, say); never its key."""

    def credentials(self, scope: dict[str, Any]) -> str | None:
        """The caller's key (`Authorization: Bearer` unless the protocol says otherwise)."""
        return bearer_credentials(scope)

    @abc.abstractmethod
    def parse(self, body: dict[str, Any]) -> Inbound:
        """The request, checked as the protocol's own API would; RelayError(400) names the
        field."""

    async def prepare(self, inbound: Inbound, key: ApiKey, relay: Relay) -> None:
        """Awaited once the caller's key is known and the body parsed, before the gate: a
        protocol with server-side state (stored conversations) loads it here, and may
        replace `inbound.request`. RelayError refuses the request."""

    @abc.abstractmethod
    def render(self, inbound: Inbound, answer: dict[str, Any], usage: Usage) -> dict[str, Any]:
        """The door's whole answer from the relay's `chat.completion` and its usage."""

    async def finish(self, inbound: Inbound, rendered: dict[str, Any]) -> None:
        """Awaited with the whole answer `render` made, before it is sent (see
        `StreamEncoder.finish`)."""

    @abc.abstractmethod
    def encoder(self, inbound: Inbound) -> StreamEncoder:
        """A fresh encoder for one stream."""

    def error_status(self, error: RelayError) -> int:
        """The HTTP status an error is answered with (the protocol may spell some its own
        way, as Anthropic's 529 for overloaded)."""
        return error.status

    @abc.abstractmethod
    def error_body(self, error: RelayError) -> bytes:
        """The error in the door's own JSON shape."""

    def native_request(self, inbound: Inbound, call: UpstreamCall) -> NativeRequest | None:
        """What an upstream that speaks this door's protocol gets: the client's body with
        only `model` (and a cap the relay set) changed. None: this door never passes through."""
        return None

    def native_usage(self, answer: dict[str, Any]) -> Usage | None:
        """The usage in a pass-through's whole answer."""
        return None

    def native_meter(self, counter: TokenCounter, messages: list[dict[str, Any]]) -> Any:
        """A `metering.native_meter.NativeStreamMeter` for a pass-through's stream."""
        raise NotImplementedError

    async def call_upstream(self, provider: Provider, call: UpstreamCall) -> dict[str, Any]:
        """The upstream operation behind a whole answer (a chat completion, unless the
        door's protocol is another operation: embeddings, say)."""
        return await provider.complete(call)

    async def open_upstream(
        self, provider: Provider, call: UpstreamCall
    ) -> ChunkStream | DirectChunks:
        """The upstream operation behind a stream (a chat completion's, unless the door's
        protocol is another operation)."""
        return await provider.open_stream(call)

    def error_headers(self, error: RelayError) -> Headers:
        """`content-type`, `retry-after` and the like, for an error answered as a status."""
        return error.headers()
