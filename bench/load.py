"""The load generator: Debian's `wrk`, closed loop, driven by `wrk_post.lua`.

wrk is compiled C with its own latency histogram, so the client side costs next to nothing
and adds no Python jitter. The Lua script's `done()` prints one `BENCH_RESULT {json}` line
that is parsed here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

LUA_SCRIPT = Path(__file__).with_name("wrk_post.lua")
RESULT_PREFIX = "BENCH_RESULT "


class LoadError(RuntimeError):
    """wrk is missing or a run produced no usable result."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors_connect: int
    errors_read: int
    errors_write: int
    errors_status: int
    errors_timeout: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return (
            self.errors_connect
            + self.errors_read
            + self.errors_write
            + self.errors_status
            + self.errors_timeout
        )

    def problem(self) -> str | None:
        """Why this run cannot count as a measurement, or None."""
        if self.requests == 0:
            return "no request completed"
        if self.errors_status:
            return f"{self.errors_status} non-2xx responses"
        if self.errors_connect:
            return f"{self.errors_connect} connection errors"
        if self.errors > 0.01 * self.requests:
            return f"{self.errors} socket errors in {self.requests} requests"
        return None


def _quietly(command: list[str]) -> int:
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return done.returncode


def ensure_wrk() -> str:
    """The path of `wrk`, installing Debian's package when running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing Debian's package (apt-get install -y wrk)", flush=True)
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        if _quietly(install) != 0:
            _quietly(["apt-get", "update", "-q"])
            _quietly(install)
        found = shutil.which("wrk")
        if found:
            return found
    raise LoadError(
        "the benchmark needs the load generator wrk: install it with `apt-get install -y wrk` "
        "(Debian/Ubuntu) and run again"
    )


def wrk_command(
    wrk: str, url: str, connections: int, duration_s: float, cpu: int | None
) -> list[str]:
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    return [
        *pin,
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]


def wrk_env(body: bytes, key: str | None) -> dict[str, str]:
    return {**os.environ, "BENCH_BODY": body.decode(), "BENCH_KEY": key or ""}


def parse_wrk(stdout: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            raw = orjson.loads(line[len(RESULT_PREFIX) :])
            return WrkResult(
                requests=int(raw["requests"]),
                duration_s=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1000,
                p90_ms=raw["p90_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["max_us"] / 1000,
                errors_connect=int(raw["errors_connect"]),
                errors_read=int(raw["errors_read"]),
                errors_write=int(raw["errors_write"]),
                errors_status=int(raw["errors_status"]),
                errors_timeout=int(raw["errors_timeout"]),
            )
    raise LoadError(f"wrk printed no result line:\n{stdout[-2000:]}")


def run_wrk(
    wrk: str,
    url: str,
    body: bytes,
    key: str | None,
    *,
    connections: int,
    duration_s: float,
    cpu: int | None,
) -> WrkResult:
    """One closed-loop run: `connections` keep-alive connections for `duration_s`."""
    command = wrk_command(wrk, url, connections, duration_s, cpu)
    done = subprocess.run(
        command,
        env=wrk_env(body, key),
        capture_output=True,
        text=True,
        timeout=duration_s + 30,
        check=False,
    )
    if done.returncode != 0:
        raise LoadError(f"wrk exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return parse_wrk(done.stdout)
