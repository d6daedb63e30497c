"""Failed member sign-ins, counted per email and per client address with the gate's own
limit book (in this process, or in Redis shared by every replica).

Each attempt takes a concurrency lease from the book; a success gives it back, a failure
keeps it until the book's lease expiry (15 minutes) frees it. So "at most 5 leases" is
"at most 5 failures in the last 15 minutes", a sliding window, with no new counter code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from llmrelay.gate.admission import counters_unavailable
from llmrelay.gate.limit_book import ADMITTED, LEASE_SECONDS, LimitBook, Limits
from llmrelay.protocol.errors import RelayError
from llmrelay.store.members import digest, normal_email

FAILURES_PER_EMAIL = 5
FAILURES_PER_ADDRESS = 20
"""Higher than per email: many people may sign in from behind one NAT or office proxy."""
WINDOW_SECONDS = LEASE_SECONDS


@dataclass(frozen=True, slots=True)
class Attempt:
    lease: str
    window: int
    counters: tuple[str, ...]


def too_many() -> RelayError:
    return RelayError(
        429,
        "Too many failed sign-ins; try again later.",
        type="rate_limit_error",
        code="too_many_sign_ins",
        retry_after=WINDOW_SECONDS,
    )


class LoginThrottle:
    def __init__(self, book: LimitBook) -> None:
        self.book = book

    async def attempt(self, email: str, address: str | None) -> Attempt:
        """Count one sign-in attempt, or refuse it (429) when either counter is full."""
        lease = secrets.token_hex(12)
        counters = [("signin:email:" + digest(normal_email(email)), FAILURES_PER_EMAIL)]
        if address:
            counters.append(("signin:address:" + address, FAILURES_PER_ADDRESS))
        taken: list[str] = []
        window = 0
        for counter, most in counters:
            try:
                count = await self.book.admit(counter, Limits(None, None, most), lease, 0)
            except Exception as exc:  # Redis did not answer: a clear 503, not a 500
                raise counters_unavailable(exc) from None
            window = count.window
            if count.verdict != ADMITTED:
                for done in taken:
                    await self.book.release(done, lease, window, 0)
                raise too_many()
            taken.append(counter)
        return Attempt(lease, window, tuple(taken))

    async def succeeded(self, attempt: Attempt) -> None:
        """A good password: the attempt is not a failure, its leases go back."""
        for counter in attempt.counters:
            await self.book.release(counter, attempt.lease, attempt.window, 0)
