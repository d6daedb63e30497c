"""The embedded models as a relay worker sees them when a model host serves them
(`LLMRELAY_MODEL_HOST`): the same providers, capabilities and status, each call forwarded.

Every check the embedded provider makes (a prompt longer than the context, a logit_bias key
that is no token, a grammar llama.cpp refuses, a full queue, images or tools) is made by the
host's own provider, and its error reaches the client with the same class, status, code and
message. A stream the client leaves is cancelled at the host, which stops the engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from llmrelay.config import LocalEmbeddingsProvider, LocalProvider
from llmrelay.model_host.wire import Chunks, Done, Failed, Op, Opened, host_unavailable, relay_error
from llmrelay.protocol.errors import RelayError
from llmrelay.providers.base import ChunkStream, Provider, UpstreamCall
from llmrelay.providers.host_link import Answer, HostLink


class _Hosted(Provider):
    """What both hosted providers share: the link to the host, readiness and status."""

    takes_tools = False
    takes_images = False

    def __init__(
        self, name: str, config: LocalProvider | LocalEmbeddingsProvider, link: HostLink
    ) -> None:
        super().__init__(name)
        self.config = config
        self.link = link
        # The kind the host serves it as. An instance attribute: the class must not take
        # the embedded provider's place in `Provider.registry`.
        self.kind = type(config).__struct_config__.tag  # type: ignore[misc]

    async def start(self) -> None:
        self.link.start()

    async def close(self) -> None:
        await self.link.close()

    @property
    def ready(self) -> bool:
        return self.link.ready(self.name)

    def status(self) -> dict[str, Any]:
        return self.link.status_of(self.name, self.kind)

    async def _whole(self, op: Op, call: UpstreamCall) -> dict[str, Any]:
        call_id, answer = self.link.open(op, self.name, call)
        frame = await self.link.first(call_id, answer)
        if isinstance(frame, Done) and frame.result is not None:
            return frame.result
        raise self._failure(frame)

    async def _stream(self, op: Op, call: UpstreamCall) -> ChunkStream:
        call_id, answer = self.link.open(op, self.name, call)
        frame = await self.link.first(call_id, answer)
        if isinstance(frame, Opened):
            return HostedChunkStream(self.link, call_id, answer)
        raise self._failure(frame)

    def _failure(self, frame: Any) -> RelayError:
        if isinstance(frame, Failed):
            return relay_error(frame.error)
        return host_unavailable(self.name, f"answered out of turn ({type(frame).__name__})")


class RemoteLocalProvider(_Hosted):
    """The embedded llama.cpp model (`local`), served by the model host."""

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        return await self._whole("complete", call)

    async def complete_text(self, call: UpstreamCall) -> dict[str, Any]:
        return await self._whole("complete_text", call)

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        return await self._stream("open_stream", call)

    async def open_text_stream(self, call: UpstreamCall) -> ChunkStream:
        return await self._stream("open_text_stream", call)


class RemoteEmbeddingsProvider(_Hosted):
    """The embedded embedding model (`local-embeddings`), served by the model host."""

    chats = False

    async def embed(self, call: UpstreamCall) -> dict[str, Any]:
        return await self._whole("embed", call)

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        return await self._whole("complete", call)  # the host's provider refuses it

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        return await self._stream("open_stream", call)


class HostedChunkStream(ChunkStream):
    """A stream the host's engine writes: its chunks as they come, a batch per frame."""

    def __init__(self, link: HostLink, call_id: int, answer: Answer) -> None:
        self.link = link
        self.call_id = call_id
        self.answer = answer
        self.ended = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        async for batch in self.batches():
            for chunk in batch:
                yield chunk

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        while not self.ended:
            frame = await self.answer.get()
            if isinstance(frame, Chunks):
                yield frame.chunks
                continue
            self.ended = True
            if isinstance(frame, Failed):
                raise relay_error(frame.error)

    async def aclose(self) -> None:
        if not self.ended:
            self.ended = True
            self.link.cancel(self.call_id)


def hosted_provider(
    name: str, config: LocalProvider | LocalEmbeddingsProvider, link: HostLink
) -> Provider:
    if isinstance(config, LocalEmbeddingsProvider):
        return RemoteEmbeddingsProvider(name, config, link)
    return RemoteLocalProvider(name, config, link)
