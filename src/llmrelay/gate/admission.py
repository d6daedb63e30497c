"""The gate between an authenticated request and the upstream: where it may come from, how
often, how many at once, and whether its worst case fits the budget.

A key with no limits passes through without any bookkeeping; every limit is one dict lookup
(or one Redis script) on the way in and one on the way out.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmrelay.config import BillingConfig, ModelConfig
from llmrelay.gate.budgets import BudgetReservation, Budgets, next_id
from llmrelay.gate.estimate import RequestEstimator
from llmrelay.gate.limit_book import (
    TOO_MANY_CONCURRENT,
    TOO_MANY_REQUESTS,
    TOO_MANY_TOKENS,
    LimitBook,
    Limits,
    WindowCount,
)
from llmrelay.metering.prices import nano_to_usd, worst_case_nano
from llmrelay.metering.tokens import TokenCounter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.protocol.request import ChatRequest
from llmrelay.store.keys import ApiKey
from llmrelay.tracing import StepTracer

log = logging.getLogger("llmrelay.gate")


@dataclass(slots=True)
class Admission:
    """What a request holds while it runs; given back by `Gate.release`."""

    key: ApiKey
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    lease: str | None = None
    window: int = 0
    counted_tokens: int = 0
    reservation: BudgetReservation | None = None
    output_cap: int | None = None
    """The output cap the budget reservation assumed for a request that set none: the
    pipeline sends it upstream, so the answer cannot outspend the reservation."""
    released: bool = False


def _duration(seconds: float) -> bytes:
    """OpenAI's reset format: `20ms`, `17s`, `6m0s`."""
    if seconds < 1:
        return f"{max(int(seconds * 1000), 1)}ms".encode()
    whole = int(seconds + 0.999)
    if whole < 60:
        return f"{whole}s".encode()
    return f"{whole // 60}m{whole % 60}s".encode()


@functools.lru_cache(maxsize=4096)
def _refused_address(allowed_ips: tuple[str, ...], client: str) -> str | None:
    """How `client` is named in the refusal when it is outside `allowed_ips`; None when it
    is inside (remembered: one key is used from few addresses, and parsing costs µs)."""
    networks = [ipaddress.ip_network(text, strict=False) for text in allowed_ips]
    try:
        address: Any = ipaddress.ip_address(client)
    except ValueError:
        return client or "an unknown address"
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not any(address in network for network in networks):
        return str(address)
    return None


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
    TOO_MANY_TOKENS: (
        "Rate limit reached for tokens: this key allows {key.tpm} per minute, and this request "
        "may use {asked} (its prompt and max_tokens)."
    ),
    TOO_MANY_CONCURRENT: (
        "Too many requests in flight: this key allows {key.max_concurrent} at once."
    ),
}


def rate_limited(key: ApiKey, count: WindowCount, now: float, asked: int) -> RelayError:
    message = _REFUSALS[count.verdict].format(key=key, asked=asked)
    if count.verdict == TOO_MANY_TOKENS and key.tpm is not None and asked > key.tpm:
        message += " Lower max_tokens: it can never fit."
    else:
        message += " Retry after the time in Retry-After."
    error = RelayError(
        429,
        message,
        type="tokens" if count.verdict == TOO_MANY_TOKENS else "requests",
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


def counters_unavailable(exc: Exception) -> RelayError:
    """The counters (Redis, or the ledger a budget is read from) did not answer: a limited
    key cannot be let through unchecked, but it is the relay's fault, not the client's."""
    log.warning("rate-limit or budget counters unreachable: %s: %s", type(exc).__name__, exc)
    return RelayError(
        503,
        "This key's rate limits and budget cannot be checked right now; retry shortly.",
        type="server_error",
        code="counters_unavailable",
        retry_after=1.0,
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
        self.estimator = RequestEstimator(tokens, billing)
        self.billing = billing
        self.clock = clock

    async def admit(
        self,
        key: ApiKey,
        request: ChatRequest,
        models: list[ModelConfig],
        client: str | None,
        reasoning: ReasoningIntent | None = None,
        trace: StepTracer | None = None,
    ) -> Admission | None:
        """Take what the request needs, or raise the refusal. None: nothing to give back.

        For a key with a budget, a priced request without `max_tokens` gets the output cap
        its reservation assumed: it is what goes upstream, so the answer cannot outspend it.
        With `trace` (tracing on), the limits and the reservation are spans of their own."""
        self.check_address(key, client)
        try:
            return await self._admit(key, request, models, reasoning, trace)
        except RelayError:
            raise
        except Exception as exc:
            raise counters_unavailable(exc) from None

    async def _admit(
        self,
        key: ApiKey,
        request: ChatRequest,
        models: list[ModelConfig],
        reasoning: ReasoningIntent | None,
        trace: StepTracer | None,
    ) -> Admission | None:
        budgeted = key.budget_usd is not None and any(m.price for m in models)
        admission = None
        prompt = self.estimator.prompt_tokens(request) if budgeted or key.tpm else 0
        if key.rate_limited:
            asked = 0
            if key.tpm is not None:
                asked = prompt + self.estimator.output_tokens(request, models[0], reasoning)
            counted = self._count(key, asked)
            admission = await (counted if trace is None else trace.step("gate.limits", counted))
        if budgeted:
            admission = admission or Admission(key)
            if request.max_tokens is None and request.produces_output:
                admission.output_cap = self.estimator.output_cap(models[0])
            try:
                amount = max(self._worst_case(request, m, reasoning, prompt) for m in models)
                reserved = self.budgets.reserve(key, amount)
                if trace is not None:
                    usd = {"llmrelay.reserved_usd": nano_to_usd(amount)}
                    reserved = trace.step("gate.budget", reserved, **usd)
                admission.reservation = await reserved
            except BaseException:
                await self.release(admission, 0, 0)
                raise
        return admission

    async def count_refusal(self, key: ApiKey, client: str | None) -> None:
        """A request refused before admission (a bad body, an unknown model) still counts
        against the key's RPM, so refusals cannot flood the relay or its ledger; over the
        limit, the client is told so (429) instead."""
        if not key.rate_limited:
            return
        self.check_address(key, client)
        try:
            admission = await self._count(key, 0)
        except RelayError:
            raise
        except Exception:
            return  # counters out of reach: the refusal itself stands
        await self.release(admission, 0, 0)

    async def release(self, admission: Admission | None, tokens: int, cost: int) -> None:
        """Give back the slot and correct the TPM count to `tokens`; settle to `cost`."""
        if admission is None or admission.released:
            return
        admission.released = True
        key = admission.key
        # The answer is out: if the counters cannot be reached, the lease or the reservation
        # expires on its own (a Redis book's) rather than failing the request now.
        try:
            if key.rate_limited:
                correction = tokens - admission.counted_tokens if key.tpm else 0
                await self.limits.release(key.id, admission.lease, admission.window, correction)
        except Exception as exc:
            log.warning("could not give back key %s's rate-limit lease: %r", key.id, exc)
        try:
            await self.budgets.settle(admission.reservation, cost)
        except Exception as exc:
            log.warning("could not settle key %s's reservation: %r", key.id, exc)

    async def _count(self, key: ApiKey, asked: int) -> Admission:
        lease = next_id() if key.max_concurrent is not None else None
        limits = Limits(key.rpm, key.tpm, key.max_concurrent)
        count = await self.limits.admit(key.id, limits, lease or "", asked)
        now = self.clock()
        if count.verdict:
            raise rate_limited(key, count, now, asked)
        headers = ratelimit_headers(key, count, now)
        return Admission(key, headers, lease, count.window, asked)

    def check_address(self, key: ApiKey, client: str | None) -> None:
        """Refuse (403 `ip_not_allowed`) a key used from outside its `allowed_ips`."""
        if not key.allowed_ips:
            return
        refused = _refused_address(key.allowed_ips, client or "")
        if refused is not None:
            raise ip_not_allowed(refused)

    def _worst_case(
        self,
        request: ChatRequest,
        model: ModelConfig,
        reasoning: ReasoningIntent | None,
        prompt: int,
    ) -> int:
        if model.price is None:
            return 0
        output = self.estimator.output_tokens(request, model, reasoning)
        return worst_case_nano(model.price, prompt, output)
