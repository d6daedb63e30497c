"""The gate between an authenticated request and the upstream: where it may come from, how
often, how many at once, and whether its worst case fits the budget.

A key with no limits passes through without any bookkeeping; every limit is one dict lookup
(or one Redis script) on the way in and one on the way out.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmrelay.config import BillingConfig, ModelConfig
from llmrelay.gate.budgets import BudgetReservation, Budgets
from llmrelay.gate.limit_book import (
    TOO_MANY_CONCURRENT,
    TOO_MANY_REQUESTS,
    TOO_MANY_TOKENS,
    LimitBook,
    Limits,
    WindowCount,
)
from llmrelay.metering.prices import worst_case_nano
from llmrelay.metering.tokens import TokenCounter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.request import ChatRequest
from llmrelay.store.keys import ApiKey

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(slots=True)
class Admission:
    """What a request holds while it runs; given back by `Gate.release`."""

    key: ApiKey
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    lease: str | None = None
    reservation: BudgetReservation | None = None
    released: bool = False


def _duration(seconds: float) -> bytes:
    """OpenAI's reset format: `20ms`, `17s`, `6m0s`."""
    if seconds < 1:
        return f"{max(int(seconds * 1000), 1)}ms".encode()
    whole = int(seconds + 0.999)
    if whole < 60:
        return f"{whole}s".encode()
    return f"{whole // 60}m{whole % 60}s".encode()


def ratelimit_headers(key: ApiKey, count: WindowCount, now: float) -> list[tuple[bytes, bytes]]:
    reset = _duration(count.window_ends - now)
    headers: list[tuple[bytes, bytes]] = []
    if key.rpm is not None:
        headers += [
            (b"x-ratelimit-limit-requests", str(key.rpm).encode()),
            (b"x-ratelimit-remaining-requests", str(max(key.rpm - count.requests, 0)).encode()),
            (b"x-ratelimit-reset-requests", reset),
        ]
    if key.tpm is not None:
        headers += [
            (b"x-ratelimit-limit-tokens", str(key.tpm).encode()),
            (b"x-ratelimit-remaining-tokens", str(max(key.tpm - count.tokens, 0)).encode()),
            (b"x-ratelimit-reset-tokens", reset),
        ]
    return headers


_REFUSALS = {
    TOO_MANY_REQUESTS: "Rate limit reached for requests: this key allows {key.rpm} per minute.",
    TOO_MANY_TOKENS: "Rate limit reached for tokens: this key allows {key.tpm} per minute.",
    TOO_MANY_CONCURRENT: (
        "Too many requests in flight: this key allows {key.max_concurrent} at once."
    ),
}


def rate_limited(key: ApiKey, count: WindowCount, now: float) -> RelayError:
    error = RelayError(
        429,
        _REFUSALS[count.verdict].format(key=key) + " Retry after the time in Retry-After.",
        type="requests",
        code="rate_limit_exceeded",
        retry_after=1.0 if count.verdict == TOO_MANY_CONCURRENT else count.window_ends - now,
    )
    error.extra_headers = ratelimit_headers(key, count, now)
    return error


def ip_not_allowed(address: str) -> RelayError:
    return RelayError(
        403,
        f"This key may not be used from {address}.",
        type="permission_error",
        code="ip_not_allowed",
    )


class Gate:
    def __init__(
        self,
        limits: LimitBook,
        budgets: Budgets,
        tokens: TokenCounter,
        billing: BillingConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self.budgets = budgets
        self.tokens = tokens
        self.billing = billing
        self.clock = clock
        self._networks: dict[tuple[str, ...], list[Network]] = {}

    async def admit(
        self, key: ApiKey, request: ChatRequest, models: list[ModelConfig], client: str | None
    ) -> Admission | None:
        """Take what the request needs, or raise the refusal. None: nothing to give back."""
        if key.allowed_ips:
            self.check_address(key, client)
        admission = None
        if key.rpm is not None or key.tpm is not None or key.max_concurrent is not None:
            admission = await self._count(key)
        if key.budget_usd is not None:
            admission = admission or Admission(key)
            try:
                amount = max(self.worst_case(request, model) for model in models)
                admission.reservation = await self.budgets.reserve(key, amount)
            except BaseException:
                await self.release(admission, 0, 0)
                raise
        return admission

    async def release(self, admission: Admission | None, tokens: int, cost: int) -> None:
        if admission is None or admission.released:
            return
        admission.released = True
        key = admission.key
        if key.rpm is not None or key.tpm is not None or key.max_concurrent is not None:
            await self.limits.release(key.id, admission.lease, tokens)
        await self.budgets.settle(admission.reservation, cost)

    async def _count(self, key: ApiKey) -> Admission:
        lease = secrets.token_hex(8) if key.max_concurrent is not None else None
        limits = Limits(key.rpm, key.tpm, key.max_concurrent)
        count = await self.limits.admit(key.id, limits, lease or "")
        now = self.clock()
        if count.verdict:
            raise rate_limited(key, count, now)
        return Admission(key, ratelimit_headers(key, count, now), lease)

    def check_address(self, key: ApiKey, client: str | None) -> None:
        """Refuse (403 `ip_not_allowed`) a key used from outside its `allowed_ips`."""
        if not key.allowed_ips:
            return
        networks = self._networks.get(key.allowed_ips)
        if networks is None:
            networks = [ipaddress.ip_network(text, strict=False) for text in key.allowed_ips]
            self._networks[key.allowed_ips] = networks
        try:
            address: Any = ipaddress.ip_address(client or "")
        except ValueError:
            raise ip_not_allowed(client or "an unknown address") from None
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not any(address in network for network in networks):
            raise ip_not_allowed(str(address))

    def worst_case(self, request: ChatRequest, model: ModelConfig) -> int:
        """The most this request can cost on `model`, in nano-dollars."""
        price = model.price
        if price is None:
            return 0
        billing = self.billing
        prompt = self.tokens.count_messages(request.messages)
        prompt += billing.image_tokens * _image_parts(request.messages)
        tools = request.body.get("tools")
        if tools:
            prompt += self.tokens.count(str(tools))
        prompt = int(prompt * billing.prompt_margin) + 1
        output = request.max_tokens or model.max_tokens_default or billing.default_max_tokens
        return worst_case_nano(price, prompt, output * request.n)


def _image_parts(messages: list[dict[str, Any]]) -> int:
    count = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            count += sum(
                1 for p in content if isinstance(p, dict) and p.get("type") == "image_url"
            )
    return count
