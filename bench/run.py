"""`python -m bench.run`: llmrelay's benchmark, in interleaved rounds, printed as one table.

    .venv/bin/python -m bench.run                 # the full run (a few minutes)
    .venv/bin/python -m bench.run --quick         # smoke mode: every arm end to end, < 60 s
    .venv/bin/python -m bench.run --peer http://127.0.0.1:4000/v1 --peer-key sk-... \\
        --peer-model mock --mock-port 18001       # and another gateway, measured the same way

Exits 1 when an arm could not be measured; a missed target is a result, not a failure.
See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shlex
import sys
import tempfile
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import report
from bench.arms import (
    Arm,
    ArmFailure,
    Level,
    Plan,
    capacity,
    held_number,
    load,
    measure_round,
    warm_up,
)
from bench.load import LoadError, ensure_wrk
from bench.local_model import LocalArm, measure_local
from bench.proc_stats import PeakMemory, memory, tree_cpu_seconds
from bench.processes import (
    CLAUDE_MODEL,
    LOCAL_MODEL,
    RELAY_MODEL,
    Cores,
    RelayService,
    Service,
    StartError,
    free_port,
    pin_self,
    start_mock,
    start_relay,
)
from bench.stats import median
from bench.streams import STALL_MS

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
GAP_MS = 20.0
CHUNKS = 64


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny and fast")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; quick 1)")
    parser.add_argument("--duration", type=float, help="seconds per arm per measure (5; 1)")
    parser.add_argument(
        "--levels", help="concurrent paced streams to step through (100,250,500,750,1000)"
    )
    parser.add_argument("--paced-streams", type=int, help="streams for the gap p99 (50; 10)")
    parser.add_argument("--local-tokens", type=int, help="max_tokens for the local model (128)")
    parser.add_argument("--skip-local", action="store_true", help="skip the local model arm")
    parser.add_argument("--mock-port", type=int, help="the mock's port (default: a free one)")
    parser.add_argument("--peer", help="base URL of another OpenAI-compatible gateway (…/v1)")
    parser.add_argument("--peer-key", help="API key for --peer")
    parser.add_argument("--peer-model", default="mock", help="model name at --peer (mock)")
    parser.add_argument("--peer-pid", type=int, help="the peer's pid, for its CPU and RSS")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace, cores: Cores) -> Plan:
    quick = args.quick
    levels = args.levels or ("25,50" if quick else "100,250,500,750,1000")
    return Plan(
        duration_s=args.duration or (1.0 if quick else 5.0),
        rounds=args.rounds or (1 if quick else 3),
        gap_s=GAP_MS / 1000,
        chunks=CHUNKS,
        paced_streams=args.paced_streams or (10 if quick else 50),
        levels=tuple(sorted(int(n) for n in levels.split(","))),
        hold_s=1.5 if quick else 3.0,
        harness_cpu=cores.harness,
    )


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Benchmark:
    """One run: the arms, their rounds, the capacity steps and the local model."""

    def __init__(
        self, args: argparse.Namespace, plan: Plan, cores: Cores, wrk: str, workdir: Path
    ) -> None:
        self.args, self.plan, self.cores, self.wrk = args, plan, cores, wrk
        self.workdir = workdir
        self.failures: list[str] = []
        self.rounds: dict[str, list[dict[str, float]]] = {}
        self.levels: dict[str, list[Level]] = {}
        self.held: dict[str, str] = {}
        self.local: dict[str, list[float]] = {}
        self.model_memory: dict[str, float] = {}  # the relay with the embedded model
        self.workers_rps: list[float] = []  # the relay with 2 workers
        self.workers_cpu_us: list[float] = []  # its CPU per request, all its processes

    def fail(self, message: str) -> None:
        self.failures.append(message)
        print(f"  FAILED: {message}", file=sys.stderr, flush=True)

    def arms(self, mock: Service, relay: RelayService) -> list[Arm]:
        arms = [
            Arm("direct", mock.base_url, None, "mock", label="client -> mock"),
            Arm(
                "relay",
                relay.base_url,
                relay.api_key,
                RELAY_MODEL,
                relay.pid,
                "client -> llmrelay (core 0, mock model only; key auth, ledger with cost, "
                "budget reservation, RPM/TPM/concurrency limits and IP allowlist on) -> mock",
            ),
        ]
        relay_arm = arms[1]
        arms += [
            replace(
                relay_arm,
                name="messages-native",
                model=CLAUDE_MODEL,
                door="messages",
                label="Anthropic Messages door -> llmrelay -> the mock as an `anthropic` "
                "provider (pass-through)",
            ),
            replace(
                relay_arm,
                name="messages-translated",
                door="messages",
                label="Anthropic Messages door -> llmrelay -> the mock as an OpenAI provider "
                "(translated both ways)",
            ),
        ]
        if self.args.peer:
            arms.append(
                Arm(
                    "peer",
                    self.args.peer,
                    self.args.peer_key,
                    self.args.peer_model,
                    self.args.peer_pid,
                    f"client -> {self.args.peer} -> mock",
                )
            )
        return arms

    def run(self, mock: Service, relay: RelayService) -> dict[str, Any]:
        arms = self.arms(mock, relay)
        idle = memory(relay.pid)
        with contextlib.ExitStack() as stack:
            watched = {"relay": stack.enter_context(PeakMemory(relay.pid))}
            if self.args.peer_pid:
                watched["peer"] = stack.enter_context(PeakMemory(self.args.peer_pid))
            live = self._warm_up(arms)
            self._rounds(live)
            self._capacity(live)
        relay.stop()  # the cores are the next relay's
        self._workers(mock, arms[1])
        if not self.args.skip_local:
            self._local(mock)
        return self._summary(arms, watched, idle)

    def _warm_up(self, arms: list[Arm]) -> list[Arm]:
        live = []
        for arm in arms:
            print(f"warm-up: {arm.name}", flush=True)
            try:
                warm_up(arm, self.wrk, self.plan)
                live.append(arm)
            except ArmFailure as exc:
                self.fail(str(exc))
        return live

    def _rounds(self, arms: list[Arm]) -> None:
        for number in range(self.plan.rounds):
            shift = number % max(1, len(arms))
            for arm in arms[shift:] + arms[:shift]:
                print(f"round {number + 1}/{self.plan.rounds}: {arm.name}", flush=True)
                try:
                    measured = measure_round(arm, self.wrk, self.plan)
                except ArmFailure as exc:
                    self.fail(str(exc))
                    continue
                self.rounds.setdefault(arm.name, []).append(measured)

    def _capacity(self, arms: list[Arm]) -> None:
        levels = ", ".join(map(str, self.plan.levels))
        print(f"concurrent paced streams: stepping {levels}", flush=True)
        self.levels, self.held = capacity(arms, self.plan)
        for name, found in self.levels.items():
            if not found:
                self.fail(f"{name}: no paced-stream level ran")

    def _workers(self, mock: Service, one: Arm) -> None:
        """Throughput at 64 in flight of a relay with 2 workers, unpinned (both cores: the
        harness shares one with a worker), against the 1-worker relay's on one core."""
        try:
            relay = start_relay(self.workdir, mock.base_url, free_port(), None, workers=2)
        except StartError as exc:
            self.fail(f"2 workers: {exc}")
            return
        print(f"llmrelay with 2 workers on {relay.base_url}", flush=True)
        arm = replace(one, name="relay, 2 workers", base_url=relay.base_url)
        arm = replace(arm, key=relay.api_key, pid=None)
        try:
            warm_up(arm, self.wrk, self.plan)
            for _ in range(self.plan.rounds):
                before = tree_cpu_seconds(relay.pid)
                result = load(arm, self.wrk, self.plan, 64)
                spent = tree_cpu_seconds(relay.pid) - before
                self.workers_rps.append(result.rps)
                self.workers_cpu_us.append(spent * 1e6 / result.requests)
        except ArmFailure as exc:
            self.fail(f"2 workers: {exc}")
        finally:
            relay.stop()

    def _local(self, mock: Service) -> None:
        """The local model arm, on a second relay that also serves the embedded model."""
        try:
            relay = start_relay(
                self.workdir, mock.base_url, free_port(), self.cores.relay, with_model=True
            )
        except StartError as exc:
            self.fail(f"local model: {exc}")
            return
        print(f"llmrelay with the embedded model on {relay.base_url} (pid {relay.pid})", flush=True)
        try:
            start = memory(relay.pid)
            with PeakMemory(relay.pid) as peak:
                self._measure_local(relay)
            self.model_memory = {
                "rss_start_mb": start.rss_mb,
                "anon_start_mb": start.anon_mb,
                "rss_peak_mb": peak.peak_rss_mb,
                "anon_peak_mb": peak.peak_anon_mb,
            }
        finally:
            relay.stop()

    def _measure_local(self, relay: RelayService) -> None:
        print("local model: engine alone vs through the relay", flush=True)
        mock_arm = Arm("relay", relay.base_url, relay.api_key, RELAY_MODEL)
        arm = LocalArm(
            Arm("relay", relay.base_url, relay.api_key, LOCAL_MODEL).url,
            relay.api_key,
            LOCAL_MODEL,
            mock_arm.url,
            mock_arm.body,
        )
        tokens = self.args.local_tokens or (16 if self.args.quick else 128)
        try:
            warm_up(mock_arm, self.wrk, self.plan)  # a fresh relay: fill its upstream pool
            self.local = measure_local(
                arm,
                self.wrk,
                self.plan.rounds,
                self.plan.duration_s,
                tokens,
                self.cores.relay,
                self.cores.harness,
            )
        except Exception as exc:  # any failure here is "the arm did not run"
            traceback.print_exc()
            self.fail(f"local model: {exc}")

    def _summary(
        self, arms: list[Arm], watched: dict[str, PeakMemory], idle: Any
    ) -> dict[str, Any]:
        metrics: dict[str, dict[str, float]] = {}
        for arm in arms:
            rounds = self.rounds.get(arm.name, [])
            keys = {key for measured in rounds for key in measured}
            metrics[arm.name] = {k: median([r.get(k, float("nan")) for r in rounds]) for k in keys}
            if self.levels.get(arm.name):
                metrics[arm.name]["streams_no_stall"] = held_number(self.levels[arm.name])
        for name, peak in watched.items():
            metrics[name]["rss_peak_mb"] = peak.peak_rss_mb
            metrics[name]["anon_peak_mb"] = peak.peak_anon_mb
        if self.local:
            metrics["direct"]["local_tps"] = median(self.local["direct_tps"])
            metrics["relay"]["local_tps"] = median(self.local["relay_tps"])
            metrics["relay"]["lat1_gen_p99_ms"] = median(self.local["lat1_gen_p99_ms"])
            metrics["direct"]["lat1_gen_p99_ms"] = metrics["direct"].get("lat1_p99_ms", 0.0)
        if self.model_memory:
            metrics["relay"]["rss_with_model_peak_mb"] = self.model_memory["rss_peak_mb"]
        if self.workers_rps:
            two = metrics["relay"]["rps64_workers2"] = median(self.workers_rps)
            one = metrics["relay"].get("rps64", float("nan"))
            metrics["relay"]["workers2_ratio"] = two / one if one else float("nan")
            metrics["relay"]["cpu_us_per_req_workers2"] = median(self.workers_cpu_us)
        labels = {arm.name: arm.label for arm in arms}
        if self.model_memory:
            labels["relay with the embedded model"] = (
                f"a second llmrelay (core 0, mock model and {LOCAL_MODEL}), "
                "started for the local model rows only"
            )
        return {
            "metrics": metrics,
            "labels": labels,
            "rounds": self.rounds,
            "capacity": {k: [asdict(level) for level in v] for k, v in self.levels.items()},
            "capacity_cells": self.held,
            "local": self.local,
            "relay_memory_at_start": asdict(idle),
            "relay_with_model_memory": self.model_memory,
            "failures": self.failures,
        }


def describe_level(level: Level) -> str:
    error = f"; {level.errors[0]}" if level.errors else ""
    return (
        f"{level.concurrency} {'STALL' if level.stalled else 'ok'} "
        f"({level.stalls} stalled of {level.streams}; gap p99 {level.gap_p99_ms:.1f}, "
        f"max {level.gap_max_ms:.1f} ms; ttft p99 {level.ttft_p99_ms:.1f} ms{error})"
    )


def notes(bench: Benchmark, data: dict[str, Any]) -> list[str]:
    plan, cores = bench.plan, bench.cores
    pinning = (
        f"relay pinned to core {cores.relay}; mock, wrk, stream client and orchestrator on "
        f"core {cores.harness}"
        if cores.relay is not None
        else "not pinned (one core)"
    )
    start, loaded = data["relay_memory_at_start"], data["relay_with_model_memory"]
    lines = [
        f"median of {plan.rounds} interleaved round(s); added = relay − direct; {pinning}",
        f"stall = a stream that fails, waits > {STALL_MS:g} ms for its first token, or has a "
        f"gap > {GAP_MS:g} + {STALL_MS:g} ms between chunks ({plan.chunks} chunks every "
        f"{GAP_MS:g} ms, each connection streaming back to back for {plan.hold_s:g} s)",
        f"relay without the embedded model (every row but the local model's): RSS at start "
        f"{start['rss_mb']:.0f} MB (anonymous {start['anon_mb']:.0f} MB)",
    ]
    if loaded:
        lines.append(
            "relay with the embedded model (a second relay, started for the local model rows "
            f"only): RSS {loaded['rss_start_mb']:.0f} MB at start (anonymous "
            f"{loaded['anon_start_mb']:.0f} MB), peak {loaded['rss_peak_mb']:.0f} MB "
            f"(anonymous {loaded['anon_peak_mb']:.0f} MB); the model's weights are file pages "
            "mapped from the GGUF, its KV cache and compute buffers are the engine's"
        )
    for name, levels in bench.levels.items():
        lines.append(f"paced streams, {name}: " + ", ".join(map(describe_level, levels)))
    if bench.local:
        during = median(bench.local["local_tps_during_wrk"])
        lines.append(
            "local model: direct = llmrelay's LocalEngine alone in a process on the relay's "
            "core (same threads, sampling, model); while wrk ran at 1 in flight through the "
            f"relay, the local model streamed {during:.1f} tokens/s"
        )
    lines += [f"FAILED: {failure}" for failure in bench.failures]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cores = Cores.detect()
    pin_self(cores.harness)
    raise_fd_limit()
    try:
        wrk = ensure_wrk()
    except LoadError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    plan = make_plan(args, cores)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="llmrelay-bench-") as tmp:
        workdir = Path(tmp)
        bench = Benchmark(args, plan, cores, wrk, workdir)
        services: list[Service] = []
        try:
            mock = start_mock(
                workdir,
                args.mock_port or free_port(),
                cores.harness,
                chunks=CHUNKS,
                gap_ms=GAP_MS,
                delay_ms=0,
            )
            services.append(mock)
            print(f"mock upstream on {mock.base_url}", flush=True)
            relay = start_relay(workdir, mock.base_url, free_port(), cores.relay)
            services.append(relay)
            print(f"llmrelay on {relay.base_url} (pid {relay.pid})", flush=True)
            data = bench.run(mock, relay)
        except StartError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        finally:
            for service in reversed(services):
                service.stop()
    header = {
        "machine": report.machine(),
        "command": shlex.join([".venv/bin/python", "-m", "bench.run", *sys.argv[1:]]),
        "date": report.now_utc(),
        "revision": report.git_revision(REPO),
        "rounds": plan.rounds,
        "duration_s": plan.duration_s,
        "plan": asdict(plan),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    formats = {
        "paced": plan.paced_streams,
        "tokens": args.local_tokens or (16 if args.quick else 128),
    }
    overrides = {name: {"streams_no_stall": cell} for name, cell in data["capacity_cells"].items()}
    extra = [
        f"1-minute load average {load_before:.2f} before the run (the harness alone adds ~2 "
        "while it runs): above ~0.3 before, something else was busy and the numbers suffer"
    ]
    markdown = report.render(
        data["metrics"], data["labels"], header, notes(bench, data) + extra, formats, overrides
    )
    md_path, json_path = report.write(args.results_dir, markdown, {"header": header, **data})
    print("\n" + markdown)
    print(f"written: {md_path} and {json_path}")
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
