"""The tally (observe/tally.py) adds its sums to `prometheus_client`'s metrics through the
library's bucket values: its exposition must be what the library's own `observe` and `inc`
give for the same values, bucket edges included (a library upgrade that changed its insides
fails here, not in production)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from llmrelay.observe.families import LATENCY_BUCKETS
from llmrelay.observe.tally import PendingCount, PendingHistogram

VALUES = [0.0, 0.0001, 0.00010001, 0.0004, 0.001, 0.7, 1.0, 299.0, 300.0, 301.0, 1e9]


def exposition(use_tally: bool) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("h_seconds", "h", ["door"], buckets=LATENCY_BUCKETS, registry=registry)
    counter = Counter("c", "c", ["door"], registry=registry)
    child, count = histogram.labels("chat"), counter.labels("chat")
    if use_tally:
        pending, pending_count = PendingHistogram(child, LATENCY_BUCKETS), PendingCount(count)
        for round_ in (VALUES, VALUES[:3]):  # two flushes: sums carry on, never twice
            for value in round_:
                pending.observe(value)
                pending_count.value += 1
            pending.flush()
            pending_count.flush()
        pending.flush()  # nothing new: nothing added
    else:
        for value in VALUES + VALUES[:3]:
            child.observe(value)
            count.inc()
    return b"\n".join(
        line for line in generate_latest(registry).splitlines() if b"_created" not in line
    )


def test_the_tally_exposes_what_observe_would() -> None:
    assert exposition(use_tally=True) == exposition(use_tally=False)
