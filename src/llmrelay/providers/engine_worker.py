"""A provider whose model runs in this process: one engine, one worker thread, a queue cap.

Loading and every run happen on the worker thread, so the event loop is never held up; a
request beyond `queue_size` waiting is refused at once with a 429 (`queue_full`).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from llmrelay.providers.base import Provider, UpstreamError


class Engine(Protocol):
    loaded: bool

    def load(self) -> None: ...


def queue_full(queue_size: int) -> UpstreamError:
    """An embedded engine's 429: `queue_size` requests already wait (retry elsewhere, or
    shortly; the engine is not broken)."""
    return UpstreamError(
        429,
        f"The local model is busy: {queue_size} requests are already waiting. Retry shortly.",
        type="rate_limit_error",
        code="local_queue_full",
        retry_after=1.0,
        health_failure=False,
    )


class EngineProvider(Provider):
    """The shared part of the embedded chat model and the embedded embedding model."""

    def __init__(self, name: str, engine: Engine, queue_size: int, thread_prefix: str) -> None:
        super().__init__(name)
        self.engine = engine
        self.queue_size = queue_size
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_prefix)
        self._in_flight = 0

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._worker, self.engine.load)

    async def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return self.engine.loaded

    def status(self) -> dict[str, Any]:
        return {**super().status(), "in_flight": self._in_flight, "queue_size": self.queue_size}

    def _admit(self) -> None:
        if self._in_flight > self.queue_size:
            raise queue_full(self.queue_size)
        self._in_flight += 1
