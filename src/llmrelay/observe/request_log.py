"""One log line per request, from its ledger record: a readable line for terminals, or one JSON
object per line (`server.log_format: json`).

The line goes to the stream the relay's log handler writes to (stderr: server.py's
`configure_logging`), in the handler's own line format, but written directly: through
`logging` a line costs ~35 µs here (the record, the formatter, and the credential scrubber
scanning every message), directly about 2 µs, and the lines of the last 50 ms go in one
write. Nothing in the line comes from an upstream (the key's id and name, the door, the
model asked for, the relay's error code), so it needs no scrubbing; bodies, logged only with
`server.log_bodies: true`, are scrubbed.

Without a stream handler (the relay run as a library, say) lines go through `logging`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from llmrelay.metering.ledger import UsageRecord
from llmrelay.observe.json_logs import iso_time

LOGGER = "llmrelay.request"
FLUSH_SECONDS = 0.05
"""How long a request's line may wait to be written with the lines after it."""
BODY_CHARS = 2000
"""Prompts and responses are cut to this many characters (`server.log_bodies`)."""

log = logging.getLogger(LOGGER)


def _handler_stream() -> tuple[logging.Handler, Any] | None:
    """The stream handler `logging` would write this logger's lines with, if any."""
    logger: logging.Logger | None = log
    while logger is not None:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                return handler, handler.stream
        logger = logger.parent if logger.propagate else None
    return None


def _word(text: str) -> str:
    """A value as it goes in a text line: quoted when it could break the line apart."""
    if text and text.isprintable() and " " not in text and '"' not in text:
        return text
    return orjson.dumps(text).decode()


class _Clock:
    """The time as a line starts with it, its seconds part made once a second: `logging`'s
    default (`2025-01-31 12:00:00,123`, local), or JSON's (`2025-01-31T12:00:00.123Z`)."""

    def __init__(self, json_lines: bool) -> None:
        self.json = json_lines
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            if self.json:
                self._prefix = iso_time(second)[:-5]  # (without ".000Z")
            else:
                self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((now - second) * 1000)
        return f"{self._prefix}.{millis:03d}Z" if self.json else f"{self._prefix},{millis:03d}"


class RequestLog:
    def __init__(self, json_lines: bool) -> None:
        self.json = json_lines
        self.enabled = log.isEnabledFor(logging.INFO)
        found = _handler_stream()
        self._handler = found[0] if found else None
        self._write: Callable[[str], Any] | None = found[1].write if found else None
        self._clock = _Clock(json_lines)
        self._pending: list[str] = []

    def write(self, record: UsageRecord, bodies: dict[str, str] | None = None) -> None:
        """Log `record`'s line (with its prompt and response, when `bodies` are given)."""
        if not self.enabled:
            return
        line = self._json(record, bodies) if self.json else self._text(record, bodies)
        write = self._write
        if write is None:
            log.info(line)
            return
        if not self.json:
            line = f"{self._clock()} INFO {LOGGER}: {line}"
        self._pending.append(line)
        if len(self._pending) == 1:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Lines wait up to FLUSH_SECONDS and go out in one write: a write per request
        costs a system call on the hot path. Outside an event loop they go at once."""
        try:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        except RuntimeError:
            self.flush()

    def flush(self) -> None:
        """Write the lines waiting, in the handler's lock (other log lines come whole)."""
        if not self._pending or self._write is None:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        handler = self._handler
        assert handler is not None
        handler.acquire()
        try:
            self._write(text)
            handler.flush()
        finally:
            handler.release()

    @staticmethod
    def _text(r: UsageRecord, bodies: dict[str, str] | None) -> str:
        deployment = f"{r.provider}/{r.upstream_model}" if r.provider is not None else "-"
        ttft = f"{r.ttft_ms:.1f}ms" if r.ttft_ms is not None else "-"
        parts = [
            r.request_id,
            f"door={r.endpoint}",
            f"model={_word(r.model) if r.model else '-'}",
            f"deployment={_word(deployment)}",
            f"status={r.status}",
        ]
        if r.error_code:
            parts.append(f"error={_word(r.error_code)}")
        if r.key_id is not None:
            parts.append(f"key={_word(r.key_name or '')} key_id={r.key_id}")
        tokens = f"tokens={r.prompt_tokens}+{r.completion_tokens}"
        if r.cached_tokens:
            tokens += f" cached={r.cached_tokens}"
        if r.reasoning_tokens:
            tokens += f" reasoning={r.reasoning_tokens}"
        parts += [
            tokens,
            f"cost=${r.cost_usd:.6f}",
            f"latency={r.latency_ms:.1f}ms",
            f"ttft={ttft}",
            f"client={_word(r.client_ip) if r.client_ip else '-'}",
        ]
        if r.stream:
            parts.append("stream")
        if bodies:
            parts += [f"{name}={orjson.dumps(text).decode()}" for name, text in bodies.items()]
        return " ".join(parts)

    def _json(self, r: UsageRecord, bodies: dict[str, str] | None) -> str:
        line: dict[str, Any] = {
            "time": self._clock(),
            "level": "info",
            "logger": LOGGER,
            "message": "request",
            "request_id": r.request_id,
            "key_id": r.key_id,
            "key_name": r.key_name,
            "door": r.endpoint,
            "model": r.model,
            "deployment": f"{r.provider}/{r.upstream_model}" if r.provider is not None else None,
            "provider": r.provider,
            "stream": r.stream,
            "status": r.status,
            "error": r.error_code,
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "cached_tokens": r.cached_tokens,
            "reasoning_tokens": r.reasoning_tokens,
            "cost_usd": r.cost_usd,
            "latency_ms": r.latency_ms,
            "ttft_ms": r.ttft_ms,
            "client": r.client_ip,
            "usage_estimated": r.usage_estimated,
            "client_disconnected": r.client_disconnected,
        }
        if bodies:
            line.update(bodies)
        return orjson.dumps(line).decode()


def cut(text: str) -> str:
    """A body as logged: at most `BODY_CHARS` characters, saying how long it was."""
    if len(text) <= BODY_CHARS:
        return text
    return f"{text[:BODY_CHARS]}… [{len(text)} chars]"
