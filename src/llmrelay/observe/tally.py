"""Counts kept in plain Python between scrapes, then added to `prometheus_client`'s metrics
in one go.

A request ends with a dozen observations (a counter, three histograms, four token kinds,
a cost). Made one by one on the library's metrics they cost about 4 µs a request (each
takes a lock; under workers each also writes to a memory-mapped file: about 10 µs), a
measurable share of the relay's ~280 µs. Here each is an integer or float addition (and a
bisect for a histogram's bucket); `flush` hands the sums to the library before a scrape
(and once a second under workers), so the exposition is the library's own.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any


class PendingCount:
    """A counter child's increments since the last flush."""

    __slots__ = ("child", "value")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.value: float = 0

    def flush(self) -> None:
        if self.value:
            self.child.inc(self.value)
            self.value = 0


class PendingHistogram:
    """A histogram child's observations since the last flush, counted per bucket."""

    __slots__ = ("bounds", "child", "counts", "total")

    def __init__(self, child: Any, bounds: tuple[float, ...]) -> None:
        self.child = child
        self.bounds = bounds
        """The upper bounds without +Inf: `bisect_left` finds the first `le` bound that
        holds a value, and past the last one the +Inf bucket."""
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def flush(self) -> None:
        """Add the counts to the library's buckets (its `observe` takes one value at a time;
        the buckets are the values it keeps, per bucket, not cumulative)."""
        counts = self.counts
        buckets = self.child._buckets
        touched = False
        for index, count in enumerate(counts):
            if count:
                buckets[index].inc(count)
                counts[index] = 0
                touched = True
        if touched:
            self.child._sum.inc(self.total)
            self.total = 0.0


class Spend:
    """Tokens and cost of one model on one provider since the last flush."""

    __slots__ = ("cached", "children", "completion", "cost", "prompt", "reasoning")

    def __init__(self, tokens: Any, cost: Any, model: str, provider: str) -> None:
        self.children = (
            tokens.labels(model, provider, "prompt"),
            tokens.labels(model, provider, "completion"),
            tokens.labels(model, provider, "cached"),
            tokens.labels(model, provider, "reasoning"),
            cost.labels(model, provider),
        )
        self.prompt = self.completion = self.cached = self.reasoning = 0
        self.cost = 0.0

    def flush(self) -> None:
        amounts = (self.prompt, self.completion, self.cached, self.reasoning, self.cost)
        if not any(amounts):
            return
        for child, amount in zip(self.children, amounts, strict=True):
            if amount:
                child.inc(amount)
        self.prompt = self.completion = self.cached = self.reasoning = 0
        self.cost = 0.0


class Tally:
    """Where one kind of request's observations go: the series of its door, model,
    deployment and status class (the histograms and spend shared with others)."""

    __slots__ = ("added", "duration", "requests", "spend", "ttft")

    def __init__(
        self,
        requests: PendingCount,
        duration: PendingHistogram,
        ttft: PendingHistogram,
        added: PendingHistogram,
        spend: Spend | None,
    ) -> None:
        self.requests = requests
        self.duration = duration
        self.ttft = ttft
        self.added = added
        self.spend = spend
