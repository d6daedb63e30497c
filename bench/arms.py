"""The arms and what one round measures on each.

An arm is a way for the load to reach the mock: **direct** (client -> mock), **relay**
(client -> llmrelay -> mock) or **peer** (client -> another gateway -> mock). Every arm is
measured the same way; only the URL, the key and the model name differ.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import orjson

from bench.load import LoadError, WrkResult, run_wrk
from bench.mock_upstream import run_fast
from bench.proc_stats import cpu_seconds
from bench.streams import FRAMINGS, StreamRun, StreamTarget, concurrent_streams, sequential_streams


class ArmFailure(RuntimeError):
    """An arm could not be measured (not a missed target: a broken measurement)."""


@dataclass(frozen=True, slots=True)
class Arm:
    name: str
    base_url: str
    key: str | None
    model: str
    pid: int | None = None
    label: str = ""
    door: str = "chat"
    """`chat` (OpenAI Chat Completions) or `messages` (Anthropic Messages)."""

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + FRAMINGS[self.door].path

    @property
    def target(self) -> StreamTarget:
        return StreamTarget.from_base_url(self.base_url, self.key, self.model, self.door)

    @property
    def body(self) -> bytes:
        body: dict[str, object] = {"model": self.model}
        body["messages"] = [{"role": "user", "content": "Say hello."}]
        if self.door == "messages":
            body["max_tokens"] = 64
        return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how hard: the knobs `--quick`, `--duration` and `--rounds` turn."""

    duration_s: float
    rounds: int
    gap_s: float
    chunks: int
    paced_streams: int
    levels: tuple[int, ...]
    hold_s: float
    harness_cpu: int | None


@dataclass
class Level:
    concurrency: int
    streams: int
    stalls: int
    errors: list[str] = field(default_factory=list)
    peak_in_flight: int = 0
    ttft_p99_ms: float = float("nan")
    gap_p99_ms: float = float("nan")
    gap_max_ms: float = float("nan")

    @property
    def stalled(self) -> bool:
        return self.stalls > 0 or self.peak_in_flight < self.concurrency

    @classmethod
    def of(cls, concurrency: int, run: StreamRun) -> Level:
        return cls(
            concurrency,
            len(run.results),
            run.stalls,
            sorted(set(run.errors))[:3],
            run.peak_in_flight,
            run.ttft_ms(99),
            run.gap_ms(99),
            run.gap_ms(100),
        )


def load(arm: Arm, wrk: str, plan: Plan, connections: int) -> WrkResult:
    try:
        result = run_wrk(
            wrk,
            arm.url,
            arm.body,
            arm.key,
            connections=connections,
            duration_s=plan.duration_s,
            cpu=plan.harness_cpu,
        )
    except LoadError as exc:
        raise ArmFailure(f"{arm.name}: wrk -c{connections}: {exc}") from None
    problem = result.problem()
    if problem:
        raise ArmFailure(f"{arm.name}: wrk -c{connections}: {problem}")
    return result


def warm_up(arm: Arm, wrk: str, plan: Plan) -> None:
    """One short run at 64 in flight: fills pools and proves the arm answers 200."""
    load(arm, wrk, dataclasses.replace(plan, duration_s=1), 64)
    run = run_fast(sequential_streams(arm.target, 2, 0.2, plan.gap_s))
    if run.errors:
        raise ArmFailure(f"{arm.name}: streaming warm-up: {run.errors[0]}")


def measure_round(arm: Arm, wrk: str, plan: Plan) -> dict[str, float]:
    """Latency at 1 in flight, throughput at 64, CPU per request, TTFT, paced gaps."""
    one = load(arm, wrk, plan, 1)
    before = cpu_seconds(arm.pid) if arm.pid else None
    many = load(arm, wrk, plan, 64)
    metrics = {
        "lat1_p50_ms": one.p50_ms,
        "lat1_p99_ms": one.p99_ms,
        "rps64": many.rps,
        "lat64_p50_ms": many.p50_ms,
        "lat64_p99_ms": many.p99_ms,
    }
    if arm.pid and before is not None:
        metrics["cpu_us_per_req"] = (cpu_seconds(arm.pid) - before) * 1e6 / many.requests
    ttft = run_fast(sequential_streams(arm.target, 1, plan.duration_s, plan.gap_s))
    if ttft.errors:
        raise ArmFailure(f"{arm.name}: time to first token: {ttft.errors[0]}")
    metrics["ttft_p50_ms"] = ttft.ttft_ms(50)
    metrics["ttft_p99_ms"] = ttft.ttft_ms(99)
    before = cpu_seconds(arm.pid) if arm.pid else None
    paced = run_fast(
        concurrent_streams(arm.target, plan.paced_streams, plan.chunks, plan.gap_s, plan.duration_s)
    )
    if paced.errors:
        raise ArmFailure(f"{arm.name}: paced streams: {paced.errors[0]}")
    if arm.pid and before is not None and paced.chunks:
        # each stream's request, priming and settling included, shared over its chunks
        metrics["cpu_us_per_chunk"] = (cpu_seconds(arm.pid) - before) * 1e6 / paced.chunks
    metrics["gap_p99_ms"] = paced.gap_ms(99)
    metrics["gap_max_ms"] = paced.gap_ms(100)
    return metrics


def capacity(arms: list[Arm], plan: Plan) -> tuple[dict[str, list[Level]], dict[str, str]]:
    """Step the number of concurrent paced streams until each arm stalls.

    Returns every level's observations per arm, and per arm the table cell: the highest
    level held with no stall ("≥ N" when the last level held; "< N" when the first stalled).
    When the direct arm stalls the harness itself is the limit, and stepping stops."""
    levels: dict[str, list[Level]] = {arm.name: [] for arm in arms}
    going = list(arms)
    for concurrency in plan.levels:
        for arm in list(going):
            run = run_fast(
                concurrent_streams(arm.target, concurrency, plan.chunks, plan.gap_s, plan.hold_s)
            )
            level = Level.of(concurrency, run)
            levels[arm.name].append(level)
            if level.stalled:
                going.remove(arm)
        if not any(arm.name == "direct" for arm in going):
            break
    return levels, {name: _held(found, plan.levels) for name, found in levels.items()}


def _held(found: list[Level], planned: tuple[int, ...]) -> str:
    held = [level.concurrency for level in found if not level.stalled]
    stalled = [level.concurrency for level in found if level.stalled]
    if not held:
        return f"< {stalled[0]}" if stalled else "—"
    best = max(held)
    return (
        f"≥ {best}"
        if not stalled and best == max(planned)
        else (f"{best}" if stalled else f"≥ {best} (harness limit)")
    )


def held_number(found: list[Level]) -> float:
    held = [level.concurrency for level in found if not level.stalled]
    return float(max(held)) if held else 0.0
