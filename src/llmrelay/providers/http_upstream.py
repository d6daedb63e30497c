"""What every vendor over HTTP shares: one pooled session per provider, a POST bounded by the
configured timeouts, non-200 answers mapped to the client's error, and SSE streams read
event by event and translated into OpenAI chunks as they arrive."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from llmrelay.config import RemoteProviderConfig, Timeouts
from llmrelay.providers.base import (
    ChunkStream,
    Provider,
    UpstreamCall,
    UpstreamError,
    upstream_timeout,
    upstream_unreachable,
)
from llmrelay.providers.credentials import Scrubber, provider_credentials
from llmrelay.providers.h1_pool import H1Pool, pool_for
from llmrelay.providers.sse_reader import SSEEvent, read_sse_batches
from llmrelay.providers.upstream_errors import param_sent

REQUEST_ID_HEADER = "x-llmrelay-request-id"
"""The relay's request id, as sent upstream: under a name of its own, because servers read
`x-request-id` (llama-cpp-python's server answers 400 to one that is not a UUID)."""


def with_overrides(relay: Mapping[str, str], operator: Mapping[str, str]) -> dict[str, str]:
    """The relay's headers with the operator's on top, names compared case-insensitively (an
    operator's header replaces the relay's of the same name); an empty value removes one."""
    merged = {name.lower(): (name, value) for name, value in relay.items()}
    merged.update({name.lower(): (name, value) for name, value in operator.items()})
    return {name: value for name, value in merged.values() if value}


def read_gap(timeouts: Timeouts) -> float:
    """The longest silence a read may meet: aiohttp's one read timeout also bounds the wait
    for the headers and the first token, which `first_token` governs, so it is the larger of
    the two (the first-token wait itself is bounded separately, in `post`)."""
    return max(timeouts.idle, timeouts.first_token)


class HttpProvider(Provider):
    """A provider that talks to its upstream over HTTP with aiohttp."""

    def __init__(
        self,
        name: str,
        config: RemoteProviderConfig,
        *,
        key_header: str,
        key_prefix: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """`config.api_key` goes in `key_header` (after `key_prefix`); `headers` are the
        vendor's fixed ones. The operator's `config.headers` override every header the relay
        sets, the key's and the request id's included."""
        super().__init__(name)
        self.config = config
        self.timeouts: Timeouts = config.timeouts
        self.max_connections = config.max_connections
        self.scrubber = Scrubber(provider_credentials(config))
        """Hides this provider's credentials in any upstream text passed on."""
        relay_headers = {"content-type": "application/json", **(headers or {})}
        if config.api_key:
            relay_headers[key_header] = key_prefix + config.api_key
        self._headers = with_overrides(relay_headers, config.headers)
        self._operator_headers = frozenset(name.lower() for name in config.headers)
        self._sends_request_id = REQUEST_ID_HEADER not in self._operator_headers
        self._session: aiohttp.ClientSession | None = None
        self._session_headers = {name.lower(): (name, v) for name, v in self._headers.items()}
        self._session_headers.setdefault("accept", ("Accept", "*/*"))  # as aiohttp adds it
        self.pool: H1Pool | None = None
        """Kept-alive connections of the relay's own client, for pass-through streams (None
        where it cannot apply: see `h1_pool.pool_for`)."""

    async def start(self) -> None:
        # aiohttp sets TCP_NODELAY on every connection it opens (BaseProtocol.connection_made).
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, keepalive_timeout=60, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(
                total=self.timeouts.total,
                sock_connect=self.timeouts.connect,
                sock_read=read_gap(self.timeouts),
            ),
            skip_auto_headers=("User-Agent",),
        )
        self.pool = pool_for(self.config.base_url, self._headers, self.max_connections)

    def status(self) -> dict[str, Any]:
        """`/readyz`'s view, plus the pool: connections lent out and kept idle."""
        connector = self._session.connector if self._session is not None else None
        idle = getattr(connector, "_conns", {}) if connector is not None else {}
        in_use = getattr(connector, "_acquired", ()) if connector is not None else ()
        pool = self.pool
        return {
            **super().status(),
            "connections_in_use": len(in_use) + (pool.in_use if pool else 0),
            "connections_idle": sum(len(held) for held in idle.values())
            + (len(pool.idle) if pool else 0),
        }

    async def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @abc.abstractmethod
    def error_for(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """The client's error for a non-200 answer of this vendor."""

    def malformed(self, what: str) -> UpstreamError:
        return UpstreamError(
            502,
            f"The upstream provider '{self.name}' sent {what}.",
            code="upstream_malformed",
        )

    async def post(
        self,
        url: str,
        payload: bytes,
        call: UpstreamCall,
        client_headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """POST `call`'s payload and wait for the status line and headers; non-200 raises the
        mapped error. The call's request id goes in `REQUEST_ID_HEADER` unless the operator's
        headers name it; the call's model's own timeouts, if any, replace the provider's.
        `client_headers` (a pass-through's protocol headers) go too, under the operator's."""
        if self._session is None:
            raise RuntimeError(f"provider {self.name} used before start()")
        timeouts = call.timeouts
        options: dict[str, Any] = {}
        headers = self._call_headers(call, client_headers)
        if headers:
            options["headers"] = headers
        if timeouts is not None:
            options["timeout"] = aiohttp.ClientTimeout(
                total=timeouts.total, sock_connect=timeouts.connect, sock_read=read_gap(timeouts)
            )
        try:
            async with asyncio.timeout((timeouts or self.timeouts).first_token):
                response = await self._session.post(url, data=payload, **options)
        except TimeoutError:
            raise upstream_timeout(self.name, "no response headers in time") from None
        except aiohttp.ClientConnectorError as exc:
            raise upstream_unreachable(self.name, exc.strerror or "connection failed") from None
        except aiohttp.ClientError as exc:
            raise upstream_unreachable(self.name, type(exc).__name__) from None
        if response.status != 200:
            try:
                raw = await _error_body(response)
            except (aiohttp.ClientError, TimeoutError):
                raw = b""
            finally:
                response.release()
            raise for_client(self.error_for(response.status, raw, response.headers), call)
        return response

    def _call_headers(
        self, call: UpstreamCall, client_headers: Mapping[str, str] | None
    ) -> dict[str, str]:
        """One call's headers on top of the session's: the client's protocol headers that
        the operator's own do not replace, the request id, and the trace's context."""
        operator = self._operator_headers
        headers = (
            {k: v for k, v in client_headers.items() if k.lower() not in operator}
            if client_headers
            else {}
        )
        if self._sends_request_id:
            headers[REQUEST_ID_HEADER] = call.request_id
        if call.trace_headers is not None:
            headers.update({k: v for k, v in call.trace_headers.items() if k not in operator})
        return headers

    def request_headers(
        self, call: UpstreamCall, client_headers: Mapping[str, str] | None
    ) -> list[tuple[str, str]]:
        """Every header `post` sends through aiohttp (the session's, the call's over them,
        names compared case-insensitively, and aiohttp's `Accept: */*`), for the relay's own
        client; no `Accept-Encoding`: the stream comes as it is."""
        merged = dict(self._session_headers)
        for name, value in self._call_headers(call, client_headers).items():
            merged[name.lower()] = (name, value)
        return list(merged.values())

    async def read_json(
        self, response: aiohttp.ClientResponse, timeouts: Timeouts | None = None
    ) -> Any:
        """The whole body of a 200 answer, parsed (within the model's `total`, if it has one)."""
        try:
            async with asyncio.timeout((timeouts or self.timeouts).total):
                raw = await response.read()
        except TimeoutError:
            raise upstream_timeout(self.name, "the response did not finish in time") from None
        except aiohttp.ClientError as exc:
            raise upstream_unreachable(self.name, f"response cut ({type(exc).__name__})") from None
        finally:
            response.release()
        return self.parse_json(raw)

    def parse_json(self, raw: bytes) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self.malformed("a body that is not JSON") from None


ERROR_BODY_LIMIT = 64 * 1024
"""An error answer is a few hundred bytes; past this, the rest is not read (nor scanned)."""


async def _error_body(response: aiohttp.ClientResponse) -> bytes:
    body = b""
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) >= ERROR_BODY_LIMIT:
            return body[:ERROR_BODY_LIMIT]
    return body


class EventTranslator(abc.ABC):
    """Turns one vendor's SSE events into OpenAI `chat.completion.chunk` dicts."""

    done: bool = False
    """Set when the vendor's end-of-stream event arrived; reading stops there."""

    @abc.abstractmethod
    def translate(self, event: SSEEvent) -> list[dict[str, Any]]:
        """Chunks for this event (often one, sometimes none); raises on error events."""

    def finish(self) -> list[dict[str, Any]]:
        """Chunks owed at the end of the stream; raises when it ended too early."""
        return []


class ChunkEvents(EventTranslator):
    """A vendor's named events to chunks of one choice: the stream's `id`, `created` and
    `model` are learnt from its first event; a stream without its end event was cut."""

    provider: HttpProvider
    id: str
    created: int
    model: str

    def finish(self) -> list[dict[str, Any]]:
        if not self.done:
            raise stream_cut(self.provider.name)
        return []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }


TAIL_SECONDS = 1.0
TAIL_READS = 16
"""After the end event, at most this long and this many reads before giving the connection
up (an upstream that keeps talking after its end event is not worth keeping)."""


class SSEChunkStream(ChunkStream):
    """An upstream SSE response, translated on the fly, never buffered whole."""

    def __init__(
        self,
        provider: HttpProvider,
        response: aiohttp.ClientResponse,
        translator: EventTranslator,
        call: UpstreamCall,
    ) -> None:
        self.provider = provider
        self.response = response
        self.translator = translator
        self.call = call

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for batch in self.batches():
            for chunk in batch:
                yield chunk

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        translator = self.translator
        name = self.provider.name
        try:
            async for events in read_sse_batches(self.response.content.iter_any()):
                batch: list[dict[str, Any]] = []
                for event in events:
                    try:
                        batch.extend(translator.translate(event))
                    except UpstreamError as error:
                        if batch:  # what came before the error in this read still goes out
                            yield batch
                        raise for_client(error, self.call) from None
                    if translator.done:
                        break
                if batch:
                    yield batch
                if translator.done:
                    break
            if translator.done:
                await self._read_to_end()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise stream_read_error(name, exc) from None
        finally:
            self.response.release()
        final = translator.finish()
        if final:
            yield final

    async def _read_to_end(self) -> None:
        """Consume what follows the vendor's end event (the chunked body's terminator, at
        least): only a response read to its end returns its connection to the pool; one
        released early is closed, and the next stream pays for a new connection."""
        content = self.response.content
        try:
            async with asyncio.timeout(TAIL_SECONDS):
                read = 0
                while read <= TAIL_READS and await content.readany():
                    read += 1
        except (TimeoutError, aiohttp.ClientError):
            pass  # the connection is closed instead of reused; nothing is lost

    async def aclose(self) -> None:
        self.response.close()


def for_client(error: UpstreamError, call: UpstreamCall) -> UpstreamError:
    """The upstream's error with its `param` kept only if it names a field the client sent."""
    error.param = param_sent(error.param, call.request.body)
    return error


def stream_read_error(provider: str, exc: aiohttp.ClientError | TimeoutError) -> UpstreamError:
    """What a failed read of an upstream's stream is to the client."""
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return upstream_timeout(provider, "no data between chunks in time")
    if isinstance(exc, TimeoutError):
        return upstream_timeout(provider, "the stream outlasted the total timeout")
    return stream_cut(provider, type(exc).__name__)


def stream_cut(provider: str, cause: str | None = None) -> UpstreamError:
    """The upstream's stream ended (or its connection broke) before its end event."""
    because = f" ({cause})" if cause else ""
    return UpstreamError(
        502,
        f"The upstream provider '{provider}' closed the stream before it finished{because}.",
        code="upstream_stream_cut",
    )


def decode_json_event(provider: HttpProvider, data: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise provider.malformed("a malformed stream event") from None
    if not isinstance(value, dict):
        raise provider.malformed("a malformed stream event")
    return value
