"""The gate between an authenticated request and the upstream: where it may come from, how
often, how many at once, and whether its worst case fits the budget.

A key with no limits passes through without any bookkeeping; every limit is one dict lookup
(or one Redis script) on the way in and one on the way out.

A key that belongs to an account must fit both: the key's limits and the account's (counted
over all its keys, under the account's `book_id`), and its worst case is reserved against the
key's budget and the account's budget or prepaid balance. The two reservations are two
atomic steps, not one: the key's first, then the account's; if the account's is refused, the
key's is given back before the refusal is raised. That works unchanged with every book (this
process's, Redis's Lua script, the supervisor's for workers) and never overspends either:
each step alone is check-and-take, so neither total can pass its limit. What it costs is a
key's hold lasting a moment longer than it needed to, during which another request of the
same key could be refused that would have fit, a rare early refusal, never an overspend. One
Lua script over both accounts would avoid that moment, but Redis Cluster refuses scripts over
keys in different slots, and the machine book would need a second protocol.
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
from llmrelay.store.accounts import Account
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
    account: Account | None = None
    """The key's account, when it has one: what follows is held against it."""
    account_lease: str | None = None
    account_window: int = 0
    account_counted: int = 0
    account_reservation: BudgetReservation | None = None


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


def ratelimit_headers(
    key: ApiKey | Account, count: WindowCount, now: float
) -> list[tuple[bytes, bytes]]:
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
    TOO_MANY_REQUESTS: "Rate limit reached for requests: {whose} allows {key.rpm} per minute.",
    TOO_MANY_TOKENS: (
        "Rate limit reached for tokens: {whose} allows {key.tpm} per minute, and this request "
        "may use {asked} (its prompt and max_tokens)."
    ),
    TOO_MANY_CONCURRENT: (
        "Too many requests in flight: {whose} allows {key.max_concurrent} at once."
    ),
}


def _whose(holder: ApiKey | Account) -> str:
    """How a refusal names the limit's holder: the key, or the account it belongs to."""
    return f"account {holder.name!r}" if isinstance(holder, Account) else "this key"


def rate_limited(key: ApiKey | Account, count: WindowCount, now: float, asked: int) -> RelayError:
    message = _REFUSALS[count.verdict].format(key=key, asked=asked, whose=_whose(key))
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
        account = key.account
        if account is not None:
            return await self._admit_shared(key, account, request, models, reasoning)
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

    async def _admit_shared(
        self,
        key: ApiKey,
        account: Account,
        request: ChatRequest,
        models: list[ModelConfig],
        reasoning: ReasoningIntent | None,
    ) -> Admission:
        """A key of an account: the key's limits, then the account's; the key's budget,
        then the account's (see the module's docstring). Whatever was taken before a
        refusal is given back before it is raised."""
        priced = any(m.price for m in models)
        budgeted = priced and key.budget_usd is not None
        shared = priced and account.limit_nano is not None
        tpm = key.tpm is not None or account.tpm is not None
        prompt = self.estimator.prompt_tokens(request) if budgeted or shared or tpm else 0
        asked = prompt + self.estimator.output_tokens(request, models[0], reasoning) if tpm else 0
        if key.rate_limited:
            admission = await self._count(key, asked if key.tpm is not None else 0)
        else:
            admission = Admission(key)
        admission.account = account
        try:
            if account.rate_limited:
                await self._count_account(admission, account, asked)
            if budgeted or shared:
                if request.max_tokens is None and request.produces_output:
                    admission.output_cap = self.estimator.output_cap(models[0])
                amount = max(self._worst_case(request, m, reasoning, prompt) for m in models)
                if budgeted:
                    admission.reservation = await self.budgets.reserve(key, amount)
                if shared:
                    reserved = await self.budgets.reserve_account(account, amount)
                    admission.account_reservation = reserved
        except BaseException:
            await self.release(admission, 0, 0)
            raise
        return admission

    async def _count_account(self, admission: Admission, account: Account, asked: int) -> None:
        """Count the request against the account's limits (all its keys together)."""
        lease = next_id() if account.max_concurrent is not None else None
        limits = Limits(account.rpm, account.tpm, account.max_concurrent)
        asked = asked if account.tpm is not None else 0
        count = await self.limits.admit(account.book_id, limits, lease or "", asked)
        now = self.clock()
        if count.verdict:
            raise rate_limited(account, count, now, asked)
        admission.account_lease, admission.account_window = lease, count.window
        admission.account_counted = asked
        if not admission.headers:  # the key has no limits of its own: show the account's
            admission.headers = ratelimit_headers(account, count, now)

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
        if admission.account is not None:
            await self._release_account(admission, admission.account, tokens, cost)

    async def _release_account(
        self, admission: Admission, account: Account, tokens: int, cost: int
    ) -> None:
        try:
            if account.rate_limited:
                correction = tokens - admission.account_counted if account.tpm else 0
                lease, window = admission.account_lease, admission.account_window
                await self.limits.release(account.book_id, lease, window, correction)
        except Exception as exc:
            log.warning("could not give back account %s's rate-limit lease: %r", account.id, exc)
        try:
            await self.budgets.settle(admission.account_reservation, cost)
        except Exception as exc:
            log.warning("could not settle account %s's reservation: %r", account.id, exc)

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
