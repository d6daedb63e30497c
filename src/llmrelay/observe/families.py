"""The Prometheus metric families the relay publishes (docs/observability.md), built with
`prometheus_client`, and their buckets.

Every label value is bounded by the configuration: a door, a configured model name (an
unknown one is `unknown`), a provider, a deployment (`provider/upstream_model`), a status
class, or a word from a fixed list. No key, prompt or client-chosen text is ever a label.

Under `llmrelay serve --workers N` the supervisor gives every worker the same private
`PROMETHEUS_MULTIPROC_DIR` (observe/multiprocess.py): the library then keeps each process's
values in its own file there, and a scrape sums them. Each gauge says how its workers'
values combine (`multiprocess_mode`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
"""Seconds: from a tenth of a millisecond (the relay's own overhead) to five minutes (a long
generation)."""
ADDED_BUCKETS = (
    0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Seconds the relay adds: fine below a millisecond, where its overhead lives; the upper
buckets catch retries' backoff."""
SPEED_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0)
"""Tokens per second of the embedded model."""

REQUEST_LABELS = ("door", "model", "provider", "deployment", "status")
DEPLOYMENT_LABELS = ("model", "provider", "deployment")


class Families:
    """Every family, registered in `registry` (None: in no registry, as under workers,
    where a scrape reads the processes' files instead)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry
        self.requests = Counter(
            "llmrelay_requests_total",
            "Requests by door, model, answering provider and deployment, and status class.",
            REQUEST_LABELS,
            registry=r,
        )
        self.duration = Histogram(
            "llmrelay_request_duration_seconds",
            "Time from a request's arrival to its last byte.",
            ("door", "model"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "llmrelay_time_to_first_token_seconds",
            "Time from a request's arrival to the first token sent to the client.",
            ("door", "model"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.added = Histogram(
            "llmrelay_added_latency_seconds",
            "The relay's own time before the first token: the time to first token less the "
            "time spent waiting on upstreams.",
            ("door",),
            buckets=ADDED_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "llmrelay_tokens_total",
            "Tokens by kind: prompt, completion, cached (part of prompt), reasoning (part "
            "of completion).",
            ("model", "provider", "kind"),
            registry=r,
        )
        self.cost = Counter(
            "llmrelay_cost_usd_total",
            "What answers cost, in USD, at the answering model's configured price.",
            ("model", "provider"),
            registry=r,
        )
        self.upstream_errors = Counter(
            "llmrelay_upstream_errors_total",
            "Failed upstream attempts by kind: connect, timeout, 429, 5xx, rejected (the "
            "upstream refused the request itself), stream_cut (after the first token).",
            (*DEPLOYMENT_LABELS, "kind"),
            registry=r,
        )
        self.retries = Counter(
            "llmrelay_retries_total",
            "Attempts made after an earlier attempt of the same request failed, by the "
            "deployment tried.",
            DEPLOYMENT_LABELS,
            registry=r,
        )
        self.fallbacks = Counter(
            "llmrelay_fallbacks_total",
            "Requests that moved on to a fallback model, by reason: failure, "
            "context_length, content_filter.",
            ("model", "fallback", "reason"),
            registry=r,
        )
        self.cooldowns = Counter(
            "llmrelay_cooldowns_total",
            "Times a deployment's circuit breaker opened.",
            DEPLOYMENT_LABELS,
            registry=r,
        )
        self.refusals = Counter(
            "llmrelay_refusals_total",
            "Requests the relay refused itself, by reason: auth, rate_limit, budget, model, busy.",
            ("door", "reason"),
            registry=r,
        )
        self.local_speed = Histogram(
            "llmrelay_local_tokens_per_second",
            "The embedded model's generation speed: completion tokens over the time from "
            "its call to the last token.",
            ("provider",),
            buckets=SPEED_BUCKETS,
            registry=r,
        )
        self.inflight = Gauge(
            "llmrelay_inflight_requests",
            "Requests in flight through the pipeline (streams included).",
            ("door",),
            registry=r,
            multiprocess_mode="livesum",
        )
        self.inflight_streams = Gauge(
            "llmrelay_inflight_streams",
            "Streamed requests in flight.",
            ("door",),
            registry=r,
            multiprocess_mode="livesum",
        )
        self.healthy = Gauge(
            "llmrelay_deployment_healthy",
            "1 while a deployment's circuit breaker is closed (it takes traffic); under "
            "workers, 0 when any worker's breaker is not.",
            DEPLOYMENT_LABELS,
            registry=r,
            multiprocess_mode="livemin",
        )
        self.breaker = Gauge(
            "llmrelay_deployment_breaker_state",
            "1 for a deployment's breaker state (healthy, cooldown, half_open); under "
            "workers, how many workers see it in that state.",
            (*DEPLOYMENT_LABELS, "state"),
            registry=r,
            multiprocess_mode="livesum",
        )
        self.backlog = Gauge(
            "llmrelay_ledger_backlog",
            "Ledger outbox segments waiting for the ledger writer to move them into the database.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.local_queue = Gauge(
            "llmrelay_local_queue_depth",
            "Requests queued or running on an embedded model.",
            ("provider",),
            registry=r,
            multiprocess_mode="livemax",
        )
