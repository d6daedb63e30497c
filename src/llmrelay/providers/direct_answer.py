"""A whole (not streamed) answer on the relay's own HTTP/1.1 client (`h1_pool`).

`HttpProvider.post` and `read_json` read one through aiohttp: a client session's request
machinery, a response object, a stream reader and a task wake-up for each read. Here the
body is gathered from the connection's read callbacks and the request's task wakes once,
when it is whole. The bounds are a stream's (`DirectStream`): `first_token` on the headers,
`max(idle, first_token)` between reads and `total` for the exchange; a non-200 answer is
mapped by the provider's `error_for` from its first `ERROR_BODY_LIMIT` bytes, and a
kept-alive connection the upstream closed while it sat idle is replaced once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmrelay.config import Timeouts
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.base import upstream_unreachable as unreachable
from llmrelay.providers.direct_stream import DirectStream, open_direct
from llmrelay.providers.h1_connection import H1Connection
from llmrelay.providers.h1_pool import H1Pool
from llmrelay.providers.http_upstream import HttpProvider


class DirectAnswer(DirectStream):
    """One upstream answer read whole: `whole()` is its body."""

    too_long = "the response did not finish in time"
    too_quiet = "no data between reads in time"

    def __init__(
        self,
        provider: HttpProvider,
        pool: H1Pool,
        connection: H1Connection,
        timeouts: Timeouts,
        started: float,
    ) -> None:
        super().__init__(provider, pool, connection, timeouts, started)
        self._parts: list[bytes] = []

    async def whole(self) -> bytes:
        try:
            return await self._first
        except BaseException:
            self.abort()
            raise

    def body(self, data: bytes) -> None:
        if self._error_body is not None:
            super().body(data)
        else:
            self._parts.append(data)

    def read_end(self) -> None:
        if self._error_body is not None:
            super().read_end()
            return
        self._last_read = self.loop.time()
        if self.connection.complete:
            self._finish(None)

    def lost(self, exc: BaseException | None) -> None:
        if self._error_body is not None or not self.status.done():
            super().lost(exc)
        elif exc is None and self.connection.until_close:
            self._finish(None)  # a body without length or chunks ends with the connection
        else:
            cause = type(exc).__name__ if exc is not None else "EOF"
            self._fail(unreachable(self.name, f"response cut ({cause})"))

    def _finish(self, error: Any) -> None:
        self._drop(keep=error is None)
        first = self._first
        if first.done():
            return
        if error is None:
            first.set_result(b"".join(self._parts))
        else:
            first.set_exception(error)


async def post_json(
    provider: HttpProvider,
    url: str,
    payload: bytes,
    call: UpstreamCall,
    client_headers: Mapping[str, str] | None = None,
) -> Any:
    """POST `payload` and read the whole answer as JSON: on the relay's own client where the
    provider has a pool, else through aiohttp. A non-200 raises the provider's mapped error."""
    pool = provider.pool
    if pool is None:
        response = await provider.post(url, payload, call, client_headers)
        return await provider.read_json(response, call.timeouts)
    answer = await open_direct(provider, pool, url, payload, call, client_headers, DirectAnswer)
    return provider.parse_json(await answer.whole())
