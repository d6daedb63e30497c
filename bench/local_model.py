"""The local model arm: tokens/s through the relay versus the engine called in-process.

The direct arm is a worker process (`python -m bench.local_model --worker`) pinned to the
relay's core that loads the same packaged GGUF with llmrelay's own `LocalEngine` (same context
size, same thread count, same sampling) and generates when told to on stdin, so the two arms
can be interleaved. Tokens/s is completion tokens over the wall time from the request to the
last token (prompt processing included), on both sides.

The relay here is the second one `bench.run` starts, configured with the mock model and the
embedded local model (the proxy arms measure a relay without the model). While the model
generates through it, the mock model is also measured through the same relay with wrk at one
connection: what other users of the relay feel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import aiohttp
import orjson

from bench.load import WrkResult, parse_wrk, wrk_command, wrk_env
from bench.mock_upstream import run_fast
from bench.processes import pinned

PROMPT = "Write a long story about a lighthouse keeper and the sea."


@dataclass(frozen=True, slots=True)
class Generation:
    completion_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds else 0.0


class DirectEngine:
    """The engine alone, in its own pinned process; `generate` runs one completion."""

    def __init__(self, cpu: int | None, max_tokens: int) -> None:
        command = pinned(
            cpu,
            [
                sys.executable,
                "-m",
                "bench.local_model",
                "--worker",
                "--max-tokens",
                str(max_tokens),
            ],
        )
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._read()  # the "ready" line, after the model is loaded

    def _read(self) -> dict[str, float]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            error = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"the local engine worker died:\n{error[-2000:]}")
        return orjson.loads(line)

    def generate(self) -> Generation:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        raw = self._read()
        return Generation(int(raw["completion_tokens"]), raw["seconds"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def request_body(model: str, max_tokens: int) -> dict[str, object]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": 0,
    }


class ChunkCounter:
    """Counts streamed chunks as they arrive; `started` is set at the first one."""

    def __init__(self) -> None:
        self.chunks = 0
        self.started = asyncio.Event()

    def seen(self) -> None:
        self.chunks += 1
        self.started.set()


async def relay_generation(
    session: aiohttp.ClientSession,
    url: str,
    key: str,
    model: str,
    max_tokens: int,
    progress: ChunkCounter | None = None,
) -> Generation:
    """One streamed completion through the relay; tokens are the usage chunk's count."""
    headers = {"authorization": f"Bearer {key}"}
    started = time.perf_counter()
    tokens = 0
    async with session.post(url, json=request_body(model, max_tokens), headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"local model via relay: HTTP {resp.status}: {await resp.text()}")
        async for line in resp.content:
            if not line.startswith(b"data: {"):
                continue
            chunk = orjson.loads(line[6:])
            if chunk.get("error"):
                raise RuntimeError(f"local model via relay: {chunk['error']}")
            if chunk.get("usage"):
                tokens = int(chunk["usage"]["completion_tokens"])
            if progress is not None and chunk.get("choices"):
                progress.seen()
    return Generation(tokens, time.perf_counter() - started)


async def latency_while_generating(
    wrk: str,
    wrk_url: str,
    wrk_body: bytes,
    stream_url: str,
    key: str,
    model: str,
    max_tokens: int,
    duration_s: float,
    cpu: int | None,
) -> tuple[WrkResult, float]:
    """wrk at one connection to the mock model while the local model generates back to back.

    Returns the wrk result and the local model's streamed chunks per second meanwhile."""
    progress = ChunkCounter()

    async def generate_forever(session: aiohttp.ClientSession) -> None:
        while True:
            await relay_generation(session, stream_url, key, model, max_tokens, progress)

    async with aiohttp.ClientSession() as session:
        background = asyncio.create_task(generate_forever(session))
        waiting = asyncio.create_task(progress.started.wait())
        await asyncio.wait([background, waiting], return_when=asyncio.FIRST_COMPLETED)
        if background.done():
            background.result()  # raises what stopped the generation
        process = await asyncio.create_subprocess_exec(
            *wrk_command(wrk, wrk_url, 1, duration_s, cpu),
            env=wrk_env(wrk_body, key),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        before = progress.chunks
        stdout, stderr = await process.communicate()
        chunks = progress.chunks - before
        background.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await background
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited {process.returncode}: {stderr.decode()[-2000:]}")
    result = parse_wrk(stdout.decode())
    return result, chunks / result.duration_s if result.duration_s else 0.0


async def _one_relay_generation(url: str, key: str, model: str, max_tokens: int) -> Generation:
    async with aiohttp.ClientSession() as session:
        return await relay_generation(session, url, key, model, max_tokens)


@dataclass(frozen=True, slots=True)
class LocalArm:
    """Where the local model is reached through the relay, and the mock model beside it."""

    stream_url: str
    key: str
    model: str
    mock_url: str
    mock_body: bytes


def measure_local(
    arm: LocalArm,
    wrk: str,
    rounds: int,
    duration_s: float,
    max_tokens: int,
    relay_cpu: int | None,
    harness_cpu: int | None,
) -> dict[str, list[float]]:
    """Interleaved rounds: the engine alone, the relay, then wrk while the relay generates."""
    engine = DirectEngine(relay_cpu, max_tokens)
    samples: dict[str, list[float]] = {
        "direct_tps": [],
        "relay_tps": [],
        "lat1_gen_p99_ms": [],
        "local_tps_during_wrk": [],
    }

    def through_relay() -> Generation:
        return run_fast(_one_relay_generation(arm.stream_url, arm.key, arm.model, max_tokens))

    try:
        engine.generate()  # warm-up: the first generation allocates llama.cpp's buffers
        through_relay()
        for round_number in range(rounds):
            pair = [("direct_tps", engine.generate), ("relay_tps", through_relay)]
            for name, generate in pair if round_number % 2 == 0 else reversed(pair):
                samples[name].append(generate().tokens_per_s)
            wrk_result, tokens_per_s = run_fast(
                latency_while_generating(
                    wrk,
                    arm.mock_url,
                    arm.mock_body,
                    arm.stream_url,
                    arm.key,
                    arm.model,
                    max_tokens,
                    duration_s,
                    harness_cpu,
                )
            )
            problem = wrk_result.problem()
            if problem:
                raise RuntimeError(f"wrk while the local model generates: {problem}")
            samples["lat1_gen_p99_ms"].append(wrk_result.p99_ms)
            samples["local_tps_during_wrk"].append(tokens_per_s)
    finally:
        engine.close()
    return samples


def _worker(max_tokens: int) -> None:
    from llmrelay.config import LocalProvider
    from llmrelay.providers.local_engine import LocalEngine, SamplingParams

    defaults = LocalProvider()  # the relay's own defaults: context size and threads
    engine = LocalEngine(defaults.model_path, defaults.context_size, defaults.threads)
    engine.load()
    messages = [{"role": "user", "content": PROMPT}]
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
    print(orjson.dumps({"ready": True, "threads": engine.threads}).decode(), flush=True)
    for _line in sys.stdin:
        started = time.perf_counter()
        result = engine.generate(messages, params, lambda _piece: None, threading.Event())
        seconds = time.perf_counter() - started
        reply = {"completion_tokens": result.completion_tokens, "seconds": seconds}
        print(orjson.dumps(reply).decode(), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.local_model")
    parser.add_argument("--worker", action="store_true", help="run the direct engine worker")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args(argv)
    if not args.worker:
        parser.error("only --worker is runnable; `python -m bench.run` drives this module")
    _worker(args.max_tokens)


if __name__ == "__main__":
    main()
