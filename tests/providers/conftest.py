"""Fixtures of the provider tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmrelay.config import AnthropicProvider as AnthropicConfig
from llmrelay.providers.anthropic import AnthropicProvider
from tests.providers.h1_upstream import Upstream


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    """Starts an `Upstream` and an Anthropic provider in front of it."""
    servers: list[asyncio.Server] = []
    providers: list[AnthropicProvider] = []

    async def start(upstream: Upstream) -> AnthropicProvider:
        server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        config = AnthropicConfig(api_key="sk-ant-test", base_url=f"http://127.0.0.1:{port}")
        provider = AnthropicProvider("up", config)
        await provider.start()
        providers.append(provider)
        return provider

    yield start
    for provider in providers:
        await provider.close()
    for server in servers:
        server.close()
