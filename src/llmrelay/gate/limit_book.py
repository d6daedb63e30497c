"""Where rate-limit counters live: in this process, or in Redis for many replicas.

Requests and tokens are counted in fixed one-minute windows; concurrent requests are leases
that expire, so a replica that dies mid-request cannot hold a slot for ever. A request's
tokens are counted when it is admitted (its estimate: prompt plus max_tokens, as OpenAI does)
and corrected to what it used when it ends, so requests racing in together cannot pass a
TPM limit between them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

WINDOW_SECONDS = 60
LEASE_SECONDS = 900.0
"""A concurrency slot not given back within this long (its replica died) is freed."""

ADMITTED, TOO_MANY_REQUESTS, TOO_MANY_TOKENS, TOO_MANY_CONCURRENT = 0, 1, 2, 3


@dataclass(slots=True, frozen=True)
class Limits:
    rpm: int | None
    tpm: int | None
    max_concurrent: int | None


@dataclass(slots=True, frozen=True)
class WindowCount:
    verdict: int
    requests: int
    tokens: int
    window_ends: float

    @property
    def window(self) -> int:
        return int(self.window_ends // WINDOW_SECONDS) - 1


class LimitBook(Protocol):
    async def admit(self, key_id: str, limits: Limits, lease: str, tokens: int) -> WindowCount:
        """Count one request and its estimated `tokens`, or refuse (the verdict says why)."""
        ...

    async def release(self, key_id: str, lease: str | None, window: int, correction: int) -> None:
        """Give back the lease; add `correction` (used minus estimated) to `window`'s tokens."""
        ...


@dataclass(slots=True)
class _Window:
    number: int = -1
    requests: int = 0
    tokens: int = 0
    leases: dict[str, float] = field(default_factory=dict)


class LocalLimitBook:
    def __init__(self, clock: Any = time.time) -> None:
        self.clock = clock
        self._keys: dict[str, _Window] = {}

    def _window(self, key_id: str, now: float) -> _Window:
        window = self._keys.get(key_id)
        if window is None:
            window = self._keys[key_id] = _Window()
        number = int(now // WINDOW_SECONDS)
        if window.number != number:
            window.number, window.requests, window.tokens = number, 0, 0
        return window

    async def admit(self, key_id: str, limits: Limits, lease: str, tokens: int) -> WindowCount:
        now = self.clock()
        window = self._window(key_id, now)
        ends = (window.number + 1) * WINDOW_SECONDS
        verdict = ADMITTED
        if limits.tpm is not None and window.tokens + tokens > limits.tpm:
            verdict = TOO_MANY_TOKENS
        elif limits.rpm is not None and window.requests >= limits.rpm:
            verdict = TOO_MANY_REQUESTS
        elif limits.max_concurrent is not None:
            leases = window.leases
            if len(leases) >= limits.max_concurrent:  # only then can a stale lease matter
                for stale in [k for k, until in leases.items() if until <= now]:
                    del leases[stale]
            if len(leases) >= limits.max_concurrent:
                verdict = TOO_MANY_CONCURRENT
            else:
                leases[lease] = now + LEASE_SECONDS
        if verdict == ADMITTED:
            window.requests += 1
            window.tokens += tokens
        return WindowCount(verdict, window.requests, window.tokens, ends)

    async def release(self, key_id: str, lease: str | None, window: int, correction: int) -> None:
        counts = self._window(key_id, self.clock())
        if counts.number == window:
            counts.tokens = max(counts.tokens + correction, 0)
        if lease is not None:
            counts.leases.pop(lease, None)


_ADMIT = """
local rpm, tpm, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now, lease, asked = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[8])
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
if tpm >= 0 and tokens + asked > tpm then return {2, requests, tokens} end
if rpm >= 0 and requests >= rpm then return {1, requests, tokens} end
if most >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= most then return {3, requests, tokens} end
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), lease)
  redis.call('EXPIRE', KEYS[3], math.ceil(tonumber(ARGV[6])))
end
requests = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 2 * tonumber(ARGV[7]))
if asked > 0 then
  tokens = redis.call('INCRBY', KEYS[2], asked)
  redis.call('EXPIRE', KEYS[2], 2 * tonumber(ARGV[7]))
end
return {0, requests, tokens}
"""

_CORRECT = """
local tokens = redis.call('INCRBY', KEYS[1], ARGV[1])
if tokens < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
return 1
"""


class RedisLimitBook:
    def __init__(self, client: Any, prefix: str = "llmrelay:", clock: Any = time.time) -> None:
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self._admit = client.register_script(_ADMIT)
        self._correct = client.register_script(_CORRECT)

    def _keys(self, key_id: str, number: int) -> list[str]:
        base = f"{self.prefix}limits:{key_id}"
        return [f"{base}:{number}:requests", f"{base}:{number}:tokens", f"{base}:leases"]

    async def admit(self, key_id: str, limits: Limits, lease: str, tokens: int) -> WindowCount:
        now = self.clock()
        number = int(now // WINDOW_SECONDS)
        keys, ends = self._keys(key_id, number), (number + 1) * WINDOW_SECONDS
        args = [
            -1 if limits.rpm is None else limits.rpm,
            -1 if limits.tpm is None else limits.tpm,
            -1 if limits.max_concurrent is None else limits.max_concurrent,
            now,
            lease,
            LEASE_SECONDS,
            WINDOW_SECONDS,
            tokens,
        ]
        verdict, requests, tokens = await self._admit(keys=keys, args=args)
        return WindowCount(int(verdict), int(requests), int(tokens), ends)

    async def release(self, key_id: str, lease: str | None, window: int, correction: int) -> None:
        keys = self._keys(key_id, window)
        if correction and int(self.clock() // WINDOW_SECONDS) == window:
            await self._correct(keys=[keys[1]], args=[correction])
        if lease is not None:
            await self.client.zrem(keys[2], lease)
