"""Any OpenAI-compatible upstream: OpenAI, DeepSeek, Qwen, vLLM, Ollama, llama.cpp's server...

The client's body is forwarded as it came, with only `model` replaced by the upstream name
and, when streaming, `stream_options.include_usage` switched on so the ledger gets real
counts (the relay drops that usage chunk again if the client did not ask for it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from llmrelay.config import OpenAIProvider as OpenAIProviderConfig
from llmrelay.providers.base import (
    ChunkStream,
    Provider,
    UpstreamCall,
    UpstreamError,
    upstream_timeout,
    upstream_unreachable,
)
from llmrelay.providers.openai_reasoning import apply_reasoning, normalise_reasoning
from llmrelay.providers.sse_reader import read_sse
from llmrelay.providers.upstream_errors import map_openai_error


class OpenAICompatibleProvider(Provider):
    kind = "openai"

    def __init__(self, name: str, config: OpenAIProviderConfig) -> None:
        super().__init__(name)
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None
        headers = {"content-type": "application/json", **config.headers}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self._headers = headers
        self._secrets = [config.api_key] if config.api_key else []

    async def start(self) -> None:
        timeouts = self.config.timeouts
        # aiohttp sets TCP_NODELAY on every connection it opens (BaseProtocol.connection_made).
        connector = aiohttp.TCPConnector(
            limit=self.config.max_connections, keepalive_timeout=60, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(
                total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.idle
            ),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _payload(self, call: UpstreamCall, stream: bool) -> bytes:
        body = dict(call.request.body)
        body["model"] = call.upstream_model
        if call.reasoning_from_name and call.reasoning is not None:
            apply_reasoning(body, call.reasoning, self.config.reasoning_style)
        if stream:
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return orjson.dumps(body)

    async def _post(self, call: UpstreamCall, stream: bool) -> aiohttp.ClientResponse:
        if self._session is None:
            raise RuntimeError(f"provider {self.name} used before start()")
        payload = self._payload(call, stream)
        headers = {"x-request-id": call.request_id}
        try:
            async with asyncio.timeout(self.config.timeouts.first_token):
                response = await self._session.post(self.url, data=payload, headers=headers)
        except TimeoutError:
            raise upstream_timeout(self.name, "no response headers in time") from None
        except aiohttp.ClientConnectorError as exc:
            raise upstream_unreachable(self.name, exc.strerror or "connection failed") from None
        except aiohttp.ClientError as exc:
            raise upstream_unreachable(self.name, type(exc).__name__) from None
        if response.status != 200:
            try:
                raw = await response.read()
            except (aiohttp.ClientError, TimeoutError):
                raw = b""
            finally:
                response.release()
            raise map_openai_error(self.name, response.status, raw, response.headers, self._secrets)
        return response

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        response = await self._post(call, stream=False)
        try:
            async with asyncio.timeout(self.config.timeouts.total):
                raw = await response.read()
        except TimeoutError:
            raise upstream_timeout(self.name, "the response did not finish in time") from None
        except aiohttp.ClientError as exc:
            raise upstream_unreachable(self.name, f"response cut ({type(exc).__name__})") from None
        finally:
            response.release()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                502, f"The upstream provider '{self.name}' returned a body that is not JSON."
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise UpstreamError(
                502, f"The upstream provider '{self.name}' returned an unexpected response."
            )
        for choice in body["choices"]:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                normalise_reasoning(choice["message"])
        return body

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        response = await self._post(call, stream=True)
        return _OpenAIChunkStream(self.name, response, self._secrets)


class _OpenAIChunkStream(ChunkStream):
    def __init__(self, provider: str, response: aiohttp.ClientResponse, secrets: list[str]):
        self.provider = provider
        self.response = response
        self.secrets = secrets

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        finished = False
        try:
            async for event in read_sse(self.response.content):
                if event.data.startswith("[DONE]"):
                    return
                chunk = self._decode(event.data)
                for choice in chunk.get("choices") or ():
                    if choice.get("finish_reason"):
                        finished = True
                    delta = choice.get("delta")
                    if delta and "reasoning" in delta:
                        normalise_reasoning(delta)
                yield chunk
        except TimeoutError:
            raise upstream_timeout(self.provider, "no data between chunks in time") from None
        except aiohttp.ClientError as exc:
            raise upstream_unreachable(
                self.provider, f"stream cut ({type(exc).__name__})"
            ) from None
        finally:
            self.response.release()
        if not finished:
            raise UpstreamError(
                502,
                f"The upstream provider '{self.provider}' closed the stream before it finished.",
                code="upstream_stream_cut",
            )

    def _decode(self, data: str) -> dict[str, Any]:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                502,
                f"The upstream provider '{self.provider}' sent a malformed stream event.",
                code="upstream_malformed",
            ) from None
        if not isinstance(chunk, dict):
            raise UpstreamError(
                502,
                f"The upstream provider '{self.provider}' sent a malformed stream event.",
                code="upstream_malformed",
            )
        if chunk.get("error"):
            error = map_openai_error(self.provider, 502, orjson.dumps(chunk), {}, self.secrets)
            raise error
        return chunk

    async def aclose(self) -> None:
        self.response.close()
