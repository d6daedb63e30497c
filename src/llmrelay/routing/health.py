"""Per-deployment health: a circuit breaker that cools a failing deployment down.

`failures` retryable failures within `window_seconds` open the breaker: the deployment gets no
traffic for a cooldown that doubles each time it opens again (up to `max_cooldown_seconds`),
and is never shorter than an upstream's `Retry-After`. When the cooldown ends, one request is
let through as a probe (half-open): success closes the breaker, failure opens it again.
Active health checks (probes.py) may close an open breaker sooner, once any `Retry-After` passed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from llmrelay.config import BreakerConfig

State = Literal["healthy", "cooldown", "half_open"]


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self._failures: deque[float] = deque()
        self._open_until = 0.0
        self._rest_until = 0.0
        self._opened = 0
        self._probing = False
        self.last_error: Exception | None = None
        """The failure that rested it last: what a client gets while every deployment rests."""
        self.on_open: Callable[[float], None] | None = None
        """Told the cooldown's seconds each time the breaker opens (routing/events.py)."""

    @property
    def state(self) -> State:
        now = self.clock()
        if now < self._rest_until or now < self._open_until:
            return "cooldown"
        return "half_open" if self._open_until else "healthy"

    @property
    def consecutive_failures(self) -> int:
        return len(self._failures)

    def cooldown_remaining(self) -> float:
        return max(0.0, max(self._open_until, self._rest_until) - self.clock())

    def available(self) -> bool:
        """May a request go here now? (In half-open, only the one probe.)"""
        state = self.state
        return state == "healthy" or (state == "half_open" and not self._probing)

    def probe_due(self) -> bool:
        """Open (cooling down or half-open), past any `Retry-After`, no request probing it:
        an active health check may try it."""
        return bool(self._open_until) and not self._probing and self.clock() >= self._rest_until

    def begin(self) -> None:
        if self.state == "half_open":
            self._probing = True

    def abandoned(self) -> None:
        """The attempt ended without telling anything about health: free the probe slot."""
        self._probing = False

    def succeeded(self) -> None:
        self._failures.clear()
        self._open_until = 0.0
        self._rest_until = 0.0
        self._opened = 0
        self._probing = False

    def failed(self, retry_after: float | None = None, error: Exception | None = None) -> None:
        now = self.clock()
        self.last_error = error
        if self.state == "half_open":
            self._open(now, retry_after)
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.config.window_seconds:
            self._failures.popleft()
        if len(self._failures) >= self.config.failures:
            self._open(now, retry_after)
        elif retry_after:
            # The upstream said when to come back: rest it that long. This is not the breaker
            # opening: afterwards it is healthy again, with no probe and no escalation.
            self._rest_until = max(self._rest_until, now + retry_after)

    def _open(self, now: float, retry_after: float | None) -> None:
        self._opened += 1
        backoff = self.config.cooldown_seconds * 2 ** (self._opened - 1)
        cooldown = max(min(backoff, self.config.max_cooldown_seconds), retry_after or 0.0)
        self._open_until = now + cooldown
        if retry_after:
            self._rest_until = max(self._rest_until, now + retry_after)
        self._probing = False
        self._failures.clear()
        if self.on_open is not None:
            self.on_open(cooldown)
