"""The one table: measure / direct / relay / added / target, then a pair of columns (value,
added) for each other arm: the Messages door's, and the peer's when measured.

Every number is the median over the rounds of that arm's value in each round. "Added" is
the relay's value minus the direct arm's (client -> mock), so it is what the relay costs.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

Metrics = dict[str, float]
DASH = "—"


@dataclass(frozen=True, slots=True)
class Row:
    measure: str
    key: str
    target: str
    digits: int = 2
    added: str = "diff"  # "diff": relay - direct; "ratio": relay / direct; "none"


ROWS = [
    Row("latency p50, 1 in flight (ms)", "lat1_p50_ms", "added ≤ 0.3", 3),
    Row("latency p99, 1 in flight (ms)", "lat1_p99_ms", "added ≤ 1", 3),
    Row("throughput, 64 in flight (req/s)", "rps64", "relay ≥ 3,000", 0, "ratio"),
    Row("latency p99, 64 in flight (ms)", "lat64_p99_ms", DASH, 2),
    Row("throughput, 64 in flight, 2 workers (req/s)", "rps64_workers2", DASH, 0, "none"),
    Row("2 workers / 1 worker, throughput", "workers2_ratio", DASH, 2, "none"),
    Row(
        "CPU per request, 64 in flight, 2 workers (µs)", "cpu_us_per_req_workers2", DASH, 0, "none"
    ),
    Row("CPU per request, 64 in flight (µs)", "cpu_us_per_req", DASH, 0, "none"),
    Row("RSS peak, relay without the embedded model (MB)", "rss_peak_mb", "relay ≤ 150", 0, "none"),
    Row(
        "RSS peak, anonymous only, relay without the embedded model (MB)",
        "anon_peak_mb",
        DASH,
        0,
        "none",
    ),
    Row("stream time to first token p50 (ms)", "ttft_p50_ms", DASH, 3),
    Row("stream time to first token p99 (ms)", "ttft_p99_ms", "added ≤ 1", 3),
    Row("inter-chunk gap p99, {paced} paced streams (ms)", "gap_p99_ms", DASH, 2),
    Row(
        "CPU per streamed chunk, {paced} paced streams (µs)",
        "cpu_us_per_chunk",
        "pass-through ≤ 20",
        1,
        "none",
    ),
    Row("concurrent paced streams without stall", "streams_no_stall", "relay ≥ 500", 0, "none"),
    Row("local model tokens/s ({tokens} tokens, temp 0)", "local_tps", "relay ≥ 95 %", 1, "ratio"),
    Row("latency p99, 1 in flight, local model generating (ms)", "lat1_gen_p99_ms", "added ≤ 5", 3),
    Row(
        "RSS peak, relay with the embedded model loaded (MB)",
        "rss_with_model_peak_mb",
        DASH,
        0,
        "none",
    ),
]


def machine() -> dict[str, Any]:
    model = DASH
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def git_revision(repo: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + ("+dirty" if git("status", "--porcelain", "--", "src") else "")


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cell(value: float | None, digits: int) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{value:,.{digits}f}"


def _added(row: Row, base: float | None, value: float | None) -> str:
    if row.added == "none" or base is None or value is None:
        return DASH
    if math.isnan(base) or math.isnan(value):
        return DASH
    if row.added == "ratio":
        return f"{100 * value / base:.1f} %" if base else DASH
    return f"{value - base:+,.{row.digits}f}"


def render(
    arms: dict[str, Metrics],
    labels: dict[str, str],
    header: dict[str, Any],
    notes: list[str],
    formats: dict[str, Any],
    overrides: dict[str, dict[str, str]] | None = None,
) -> str:
    """The markdown report: a header, the table, then notes."""
    extra = [name for name in arms if name not in ("direct", "relay")]
    columns = ["measure", "direct", "relay", "added", "target"]
    for name in extra:
        columns += [name, f"{name} added"]
    lines = [
        f"**Machine:** {header['machine']['nproc']} cores, {header['machine']['cpu']}, "
        f"Linux {header['machine']['kernel']}, Python {header['machine']['python']}  ",
        f"**Command:** `{header['command']}`  ",
        f"**Date:** {header['date']} · llmrelay {header['revision']} · "
        f"{header['rounds']} round(s) of {header['duration_s']:g} s per arm",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    overrides = overrides or {}
    direct, relay = arms.get("direct", {}), arms.get("relay", {})

    def cell(arm: str, row: Row) -> str:
        shown = overrides.get(arm, {}).get(row.key)
        return shown or _cell(arms.get(arm, {}).get(row.key), row.digits)

    for row in ROWS:
        cells = [row.measure.format(**formats), cell("direct", row), cell("relay", row)]
        cells += [_added(row, direct.get(row.key), relay.get(row.key)), row.target]
        for name in extra:
            value = arms[name].get(row.key)
            cells += [cell(name, row), _added(row, direct.get(row.key), value)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {note}" for note in notes]
    if labels:
        lines.append("- arms: " + "; ".join(f"**{k}** = {v}" for k, v in labels.items()))
    return "\n".join(lines) + "\n"


def write(results_dir: Path, markdown: str, data: dict[str, Any]) -> tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = results_dir / "latest.md", results_dir / "latest.json"
    md_path.write_text(markdown)
    json_path.write_bytes(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    return md_path, json_path
