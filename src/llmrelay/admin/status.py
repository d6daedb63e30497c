"""`GET /admin/status`: what this relay process holds right now.

Operators read it to see load and backlog; the fault-injection tests read it to prove that
no fault leaves a task or an upstream connection behind.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Literal

from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.endpoint import Endpoint, json_response

if TYPE_CHECKING:
    from llmrelay.relay import Relay


class RelayStatus(Struct, kw_only=True):
    object: Literal["relay.status"] = "relay.status"
    uptime_seconds: float
    asyncio_tasks: int
    """Tasks alive in this process: a fixed few, plus one per request in flight."""
    ledger_backlog_segments: int
    """Outbox segments the ledger writer has not moved into the database yet."""
    request_bodies_bytes: int
    """Bytes of request bodies held by requests in flight (capped by
    `server.max_inflight_body_bytes`)."""
    providers: dict[str, dict[str, Any]]
    """Each provider's status; remote ones with their pool's connections in use and idle."""


def status_endpoints(relay: Relay) -> list[Endpoint]:
    started = time.monotonic()

    async def status(_request: Request) -> Response:
        outbox = relay.settings.data_path / "outbox"
        return json_response(
            RelayStatus(
                uptime_seconds=round(time.monotonic() - started, 3),
                asyncio_tasks=len(asyncio.all_tasks()),
                ledger_backlog_segments=sum(1 for _ in outbox.glob("outbox-*.jsonl")),
                request_bodies_bytes=relay.bodies.held,
                providers={name: p.status() for name, p in relay.providers.items()},
            )
        )

    return [
        Endpoint(
            "GET", "/admin/status", status,
            "This process: uptime, asyncio tasks, ledger backlog, upstream pools", RelayStatus,
        )
    ]  # fmt: skip
