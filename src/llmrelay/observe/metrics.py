"""Per-request metrics, from the one ledger record every request ends with, and routing's
events (retries, fallbacks, cooldowns, failed attempts) as they happen.

`count` runs on every request, on the event loop: one dictionary lookup finds the request's
tally (tally.py) and the rest is additions. Label children are made once per label set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmrelay.metering.exchange import Exchange
from llmrelay.metering.ledger import UsageRecord
from llmrelay.observe.families import ADDED_BUCKETS, LATENCY_BUCKETS, SPEED_BUCKETS, Families
from llmrelay.observe.tally import PendingCount, PendingHistogram, Spend, Tally
from llmrelay.protocol.reasoning import split_model_suffix
from llmrelay.routing.events import RoutingListener

if TYPE_CHECKING:
    from llmrelay.lineup import Lineups
    from llmrelay.routing.catalog import Deployment

UNKNOWN = "unknown"
"""The `model` label of a request for a model that is not configured (or never read)."""
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
REFUSALS = {
    "invalid_api_key": "auth",
    "key_disabled": "auth",
    "key_expired": "auth",
    "ip_not_allowed": "auth",
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "budget",
    "model_not_found": "model",
    "server_busy": "busy",
    "server_draining": "busy",
    "counters_unavailable": "busy",
}
"""The relay's own refusals (no upstream was called) by error code, and their reason."""
MIDSTREAM_CODES = frozenset(
    {
        "upstream_stream_cut",
        "upstream_timeout",
        "upstream_error",
        "upstream_malformed",
        "upstream_overloaded",
        "upstream_unreachable",
    }
)
"""An upstream's failure after the first token was sent: counted as `stream_cut` (routing,
which counts failures before it, was done by then)."""
LOCAL_KINDS = frozenset({"local"})


def refusal_reason(record: UsageRecord) -> str | None:
    """Why the relay refused the request itself; None when it did not."""
    if record.provider is not None or record.status < 400:
        return None
    return REFUSALS.get(record.error_code or "")


class RequestMetrics(RoutingListener):
    def __init__(self, families: Families, lineups: Lineups) -> None:
        self.families = families
        self.lineups = lineups
        self._models: dict[str | None, str] = {}
        """Model names as requested (aliases, reasoning suffixes) -> the configured name;
        only names that resolve are kept, so clients cannot grow it."""
        self._tallies: dict[tuple[Any, ...], Tally] = {}
        self._pending: list[Any] = []
        """Everything `flush` hands to the library."""
        self._histograms: dict[tuple[Any, ...], PendingHistogram] = {}
        self._spends: dict[tuple[str, str], Spend] = {}
        self._refusals: dict[tuple[str, str], PendingCount] = {}
        self._local: dict[str, PendingHistogram | None] = {}

    def count(self, record: UsageRecord, exchange: Exchange) -> None:
        """Observe one finished request (from its ledger record)."""
        model = self._models.get(record.model) or self.model_label(record.model)
        key = (record.endpoint, model, record.provider, record.upstream_model, record.status)
        tally = self._tallies.get(key) or self._tally(key)
        tally.requests.value += 1
        tally.duration.observe(record.latency_ms * 0.001)
        provider = record.provider
        if record.ttft_ms is not None:
            tally.ttft.observe(record.ttft_ms * 0.001)
            if provider is not None:
                tally.added.observe(max(0.0, record.ttft_ms * 0.001 - exchange.upstream_seconds))
        spend = tally.spend
        if spend is not None:
            spend.prompt += record.prompt_tokens
            spend.completion += record.completion_tokens
            spend.cached += record.cached_tokens or 0
            spend.reasoning += record.reasoning_tokens or 0
            spend.cost += record.cost_usd
            if record.error_code is not None and record.ttft_ms is not None:
                self._midstream(record, model)
            if provider in self._local or self._is_local(provider):
                self._local_speed(record, exchange)
        elif record.status >= 400:
            reason = refusal_reason(record)
            if reason is not None:
                refusal = self._refusals.get((record.endpoint, reason))
                if refusal is None:
                    refusal = self._refusal(record.endpoint, reason)
                refusal.value += 1

    def model_label(self, claimed: str | None) -> str:
        """The configured model a requested name stands for, else `unknown`."""
        if claimed is None:
            return UNKNOWN
        catalog = self.lineups.current.catalog
        entry = catalog.lookup(claimed)
        if entry is None:
            split = split_model_suffix(claimed)
            if split is not None:
                entry = catalog.lookup(split[0])
                if entry is not None and not entry.config.reasoning:
                    entry = None
        if entry is None:
            return UNKNOWN
        self._models[claimed] = entry.name
        return entry.name

    def flush(self) -> None:
        """Hand every count since the last flush to the library's metrics."""
        for pending in self._pending:
            pending.flush()

    def _tally(self, key: tuple[Any, ...]) -> Tally:
        door, model, provider, upstream_model, status = key
        families = self.families
        deployment = f"{provider}/{upstream_model}" if provider is not None else ""
        status_class = STATUS_CLASSES.get(status // 100, "5xx")
        requests = PendingCount(
            families.requests.labels(door, model, provider or "", deployment, status_class)
        )
        self._pending.append(requests)
        spend = None
        if provider is not None:
            spend = self._spends.get((model, provider))
            if spend is None:
                spend = self._spends[(model, provider)] = Spend(
                    families.tokens, families.cost, model, provider
                )
                self._pending.append(spend)
        tally = Tally(
            requests,
            self._histogram(families.duration, LATENCY_BUCKETS, door, model),
            self._histogram(families.ttft, LATENCY_BUCKETS, door, model),
            self._histogram(families.added, ADDED_BUCKETS, door),
            spend,
        )
        self._tallies[key] = tally
        return tally

    def _histogram(self, family: Any, bounds: tuple[float, ...], *labels: str) -> PendingHistogram:
        key = (family, *labels)
        pending = self._histograms.get(key)
        if pending is None:
            pending = self._histograms[key] = PendingHistogram(family.labels(*labels), bounds)
            self._pending.append(pending)
        return pending

    def _refusal(self, door: str, reason: str) -> PendingCount:
        pending = self._refusals[(door, reason)] = PendingCount(
            self.families.refusals.labels(door, reason)
        )
        self._pending.append(pending)
        return pending

    def _is_local(self, provider: str | None) -> bool:
        """Whether `provider` is an embedded model (remembered per provider name)."""
        if provider is None:
            return False
        if provider not in self._local:
            found = self.lineups.current.providers.get(provider)
            speed = None
            if found is not None and found.kind in LOCAL_KINDS:
                speed = self._histogram(self.families.local_speed, SPEED_BUCKETS, provider)
            self._local[provider] = speed
        return self._local[provider] is not None

    def _local_speed(self, record: UsageRecord, exchange: Exchange) -> None:
        """Completion tokens over the generation's time: the upstream's time to its first
        token or whole answer, and the stream's time after it."""
        speed = self._local.get(record.provider or "")
        if speed is None or record.completion_tokens < 2 or record.ttft_ms is None:
            return
        seconds = exchange.upstream_seconds + (record.latency_ms - record.ttft_ms) * 0.001
        if seconds > 0:
            speed.observe(record.completion_tokens / seconds)

    def _midstream(self, record: UsageRecord, model: str) -> None:
        if record.error_code in MIDSTREAM_CODES and record.provider is not None:
            deployment = f"{record.provider}/{record.upstream_model}"
            self.families.upstream_errors.labels(
                model, record.provider, deployment, "stream_cut"
            ).inc()

    # Routing's events (routing/events.py): rare, so straight to the library.

    def attempt_failed(self, deployment: Deployment, kind: str) -> None:
        self.families.upstream_errors.labels(*_deployment_labels(deployment), kind).inc()

    def retried(self, deployment: Deployment) -> None:
        self.families.retries.labels(*_deployment_labels(deployment)).inc()

    def fell_back(self, model: str, fallback: str, reason: str) -> None:
        self.families.fallbacks.labels(model, fallback, reason).inc()

    def cooled_down(self, deployment: Deployment, seconds: float) -> None:
        self.families.cooldowns.labels(*_deployment_labels(deployment)).inc()


def _deployment_labels(deployment: Deployment) -> tuple[str, str, str]:
    return deployment.model, deployment.provider.name, deployment.label
