"""One request's passage through the relay: what the ledger records about it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmrelay.config import Price
from llmrelay.gate.admission import Admission
from llmrelay.metering.ledger import UsageRecord
from llmrelay.metering.prices import cost_nano, nano_to_usd
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.request import ChatRequest
from llmrelay.protocol.usage import Usage
from llmrelay.store.keys import ApiKey
from llmrelay.store.schema import usage_records

if TYPE_CHECKING:
    from llmrelay.tracing.spans import RequestTrace

CLIENT_CLOSED_REQUEST = 499
MAX_NAME_CHARS = usage_records.c.model.type.length
MAX_ERROR_CHARS = usage_records.c.error_code.type.length
MAX_ADDRESS_CHARS = usage_records.c.client_ip.type.length
"""Free text a client can make the relay write is cut to its column's width (PostgreSQL
refuses a longer value) before it reaches the ledger."""


def _clip(text: str | None, limit: int) -> str | None:
    return text[:limit] if text is not None and len(text) > limit else text


@dataclass(slots=True)
class Exchange:
    request_id: str
    started: float
    created_at: float
    endpoint: str = "chat"
    key: ApiKey | None = None
    model: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    status: int = 200
    error_code: str | None = None
    usage: Usage | None = None
    usage_estimated: bool = False
    first_token_at: float | None = None
    response_started: bool = False
    finished: bool = False
    client_disconnected: bool = False
    price: Price | None = None
    admission: Admission | None = None
    request: ChatRequest | None = None
    body_bytes: int = 0
    """The request body's size, held against the global cap until the request ends."""
    client_ip: str | None = None
    cut: Callable[[RelayError], None] | None = None
    """Ends the stream being pumped at once, with the door's error frame (set by a pump
    while it runs); without it a draining server cancels the request's task."""
    cut_with: RelayError | None = None
    """The error a draining server ended the request with (`drain.Drain.cut_all`)."""
    recorded: UsageRecord | None = None
    """Its ledger record, once written (a whole answer's before its bytes go out)."""
    trace: RequestTrace | None = None
    """The request's spans when tracing is on (`tracing.spans`); None otherwise."""
    upstream_seconds: float = 0.0
    """Time spent in routing's attempts (each to its answer, or a stream's first token):
    the rest of the time to the first token is the relay's own (observe/metrics.py)."""

    @property
    def upstream_called(self) -> bool:
        """Whether a deployment was tried (and may bill for what it was sent)."""
        return self.provider is not None

    @property
    def cost_nano(self) -> int:
        """What the answer cost at the answering model's price (0 when unpriced)."""
        return cost_nano(self.price, self.usage)

    @classmethod
    def begin(cls, request_id: str, endpoint: str = "chat") -> Exchange:
        return cls(
            request_id=request_id,
            started=time.perf_counter(),
            created_at=time.time(),
            endpoint=endpoint,
        )

    def elapsed(self) -> float:
        """Seconds since the request began."""
        return time.perf_counter() - self.started

    def fail(self, error: RelayError) -> None:
        if not self.response_started:
            self.status = error.status
        self.error_code = error.code or error.type

    def disconnected(self) -> None:
        self.client_disconnected = True
        if not self.response_started:
            self.status = CLIENT_CLOSED_REQUEST
        self.error_code = self.error_code or "client_disconnected"

    def waited(self, seconds: float) -> None:
        """Told by the router after each attempt."""
        self.upstream_seconds += seconds

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def record(self) -> UsageRecord:
        usage = self.usage or Usage()
        ttft = None
        if self.first_token_at is not None:
            ttft = round((self.first_token_at - self.started) * 1000, 3)
        return UsageRecord(
            request_id=self.request_id,
            created_at=self.created_at,
            key_id=self.key.id if self.key else None,
            key_name=self.key.name if self.key else None,
            model=_clip(self.model, MAX_NAME_CHARS),
            provider=self.provider,
            upstream_model=self.upstream_model,
            stream=self.stream,
            status=self.status,
            error_code=_clip(self.error_code, MAX_ERROR_CHARS),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 3),
            ttft_ms=ttft,
            client_disconnected=self.client_disconnected,
            usage_estimated=self.usage_estimated,
            cost_usd=nano_to_usd(self.cost_nano),
            endpoint=self.endpoint,
            client_ip=_clip(self.client_ip, MAX_ADDRESS_CHARS),
            account_id=self.key.account_id if self.key else None,
        )
