"""Reading a request body: one reader for every route, and a global cap on the bytes held.

A parsed body costs several times its size in memory until its request ends, so the bytes of
every body being read or served are counted against `server.max_inflight_body_bytes`: a body
that would pass it is refused with a 503 and `Retry-After` instead of growing the process.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from llmrelay.protocol.errors import RelayError

T = TypeVar("T")
TRIM_AFTER_BYTES = 8 * 1024 * 1024
TRIM_DELAY_SECONDS = 1.0


class ClientGone(Exception):
    """The client closed the connection before its request body arrived."""


def request_too_large(limit: int) -> RelayError:
    return RelayError(
        413,
        f"The request body is larger than this relay accepts ({limit} bytes).",
        code="request_too_large",
    )


def bodies_over_cap(cap: int) -> RelayError:
    return RelayError(
        503,
        "The relay is holding as many request bodies as it may "
        f"({cap} bytes in all); retry shortly.",
        type="server_error",
        code="server_busy",
        retry_after=1.0,
    )


def declared_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def read_body(
    scope: dict[str, Any], receive: Any, limit: int, held: InflightBodies | None = None
) -> bytes | bytearray:
    """The whole body, refused (413) past `limit`; counted in `held`, which the caller gives
    back (`held.release`) when its request ends, for exactly the length returned."""
    declared = declared_length(scope)
    if declared is not None and declared > limit:
        raise request_too_large(limit)
    first = await _next_part(receive)
    body, more = first.get("body", b""), first.get("more_body", False)
    if not more:  # most bodies come in one part: no copy at all
        if len(body) > limit:
            raise request_too_large(limit)
        if held is not None:
            held.take(len(body))
        return body
    buffer = bytearray()  # parsed as it is: no joined copy
    try:
        while True:
            if len(buffer) + len(body) > limit:
                raise request_too_large(limit)
            if held is not None:
                held.take(len(body))
            buffer += body
            if not more:
                return buffer
            part = await _next_part(receive)
            body, more = part.get("body", b""), part.get("more_body", False)
    except BaseException:
        if held is not None:
            held.release(len(buffer))
        raise


async def _next_part(receive: Any) -> dict[str, Any]:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    return message


class InflightBodies:
    """The bytes of request bodies the process holds now, against a cap.

    Once large bodies have come and gone, the memory they held is given back: a moment later
    (when their requests' objects are gone), a collection frees what reference cycles still
    hold (an exception's traceback keeps its frames' locals, the parsed body among them),
    then the C heap returns its free pages to the system (glibc's `malloc_trim`, off the
    event loop). Without it, a burst of 20 MB bodies leaves the process a gigabyte larger."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.held = 0
        self._freed_since_trim = 0
        self._trim_scheduled = False
        self._trim = _malloc_trim()
        self._parser = ThreadPoolExecutor(1, thread_name_prefix="llmrelay-body")

    async def off_loop(self, work: Callable[[Any], T], value: Any) -> T:
        """`work(value)` on the one thread that handles large bodies: parsing holds the GIL,
        so several at once would starve the event loop; one at a time, it gets its turn."""
        return await asyncio.get_running_loop().run_in_executor(self._parser, work, value)

    def take(self, size: int) -> None:
        if self.held + size > self.cap:
            raise bodies_over_cap(self.cap)
        self.held += size

    def release(self, size: int) -> None:
        self.held -= size
        self._freed_since_trim += size
        if self._freed_since_trim >= TRIM_AFTER_BYTES and not self._trim_scheduled:
            self._trim_scheduled = True
            asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._give_back)

    def _give_back(self) -> None:
        loop = asyncio.get_running_loop()
        if self.held > TRIM_AFTER_BYTES:  # a collection now would walk those bodies too
            loop.call_later(TRIM_DELAY_SECONDS, self._give_back)
            return
        self._trim_scheduled = False
        self._freed_since_trim = 0
        gc.collect()
        if self._trim is not None:
            threading.Thread(target=self._trim, args=(0,), daemon=True).start()


def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
