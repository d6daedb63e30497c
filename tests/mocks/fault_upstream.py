"""A mock OpenAI upstream whose faults are switched at run time, for the routing tests.

One instance plays one deployment. The test sets `mock.mode` while the relay runs; every
request the mock receives is counted under the mode it met, and the mock knows how many
requests it still holds open, so a test can prove that nothing leaked once a scenario is over.

Modes:
- `ok`: the normal answer ("echo: <user text>", with usage; streamed when asked).
- `refuse`: nothing listens on the port (connection refused); leaving it listens again.
- `400`, `500`, `503`: an OpenAI-shaped error with that status.
- `429`: a rate limit with `Retry-After: <mock.retry_after>`.
- `hang_before_headers`: never answers.
- `hang_mid_stream`: streams two frames, then goes silent (a whole answer: never answers).
- `reset_mid_stream`: streams two frames, then resets the TCP connection.
- `malformed_sse`: streams two frames, then one that is not JSON.
- `malformed_json`: a 200 whose body is not JSON; streamed, a first event that is not JSON.
- `usage_in_non_final_frame`: streamed, `usage` rides on the finish frame; no usage chunk.
- `no_usage`: no `usage` anywhere, whole or streamed.
- `slow_headers`: the normal answer, after `mock.delay` seconds of silence.
- `slow_first_token`: streamed, the headers at once and the first chunk `mock.delay` later.
- `hang_after_headers`: streamed, the headers at once and then nothing.
- `context_length`: OpenAI's 400 `context_length_exceeded` ("This model's maximum context
  length is ...", `param: messages`), as OpenAI sends it.
- `content_filter`: Azure OpenAI's 400 `content_filter` for a filtered prompt (with its
  `innererror.code: ResponsibleAIPolicyViolation` and `content_filter_result`).
- `filtered_answer`: a 200 whose only choice ended `content_filter` with no content (Azure's
  filtered answer); streamed, a role chunk and, 50 ms later, the `content_filter` finish.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections import Counter
from typing import Any

import orjson
from aiohttp import web

from tests.mocks.openai_upstream import (
    UPSTREAM_KEY,
    MockOpenAI,
    ReceivedRequest,
    _answer,
    _error,
    answer_words,
    usage_for,
)

MODES = frozenset(
    {
        "ok",
        "refuse",
        "400",
        "429",
        "500",
        "503",
        "hang_before_headers",
        "hang_mid_stream",
        "reset_mid_stream",
        "malformed_sse",
        "malformed_json",
        "usage_in_non_final_frame",
        "no_usage",
        "slow_headers",
        "slow_first_token",
        "hang_after_headers",
        "context_length",
        "content_filter",
        "filtered_answer",
    }
)

FAST_TIMEOUTS = {"connect": 1, "first_token": 1, "idle": 1, "total": 10}


class FaultUpstream(MockOpenAI):
    """An OpenAI upstream for one deployment; `mode` may change at any time."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.counts: Counter[str] = Counter()
        """Requests received, by the mode they met."""
        self.request_ids: list[str] = []
        """The relay's request id (`x-llmrelay-request-id`) of each request received, in order."""
        self.in_flight = 0
        """Requests whose answer has not ended (handlers still running)."""
        self.retry_after = "1"
        self.delay = 0.0
        self._mode = "ok"
        self._lock = threading.Lock()

    # ---- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        with socket.socket() as sock:
            sock.bind((self.host, 0))
            self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name=f"fault-{self.name}"
        )
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            self._call(self._unlisten())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(15)

    async def _listen(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()

    async def _unlisten(self) -> None:
        runner, self._runner = self._runner, None
        await runner.cleanup()

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}")
        with self._lock:
            before, self._mode = self._mode, value
            if value == "refuse" and before != "refuse":
                self._call(self._unlisten())
            elif before == "refuse" and value != "refuse":
                self._call(self._listen())

    # ---- what tests read ----------------------------------------------------------------

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def open_connections(self) -> int:
        """TCP connections from the relay open right now (idle pooled ones included)."""
        runner = self._runner
        server = runner.server if runner is not None else None
        return len(server.connections) if server is not None else 0

    @property
    def idle(self) -> bool:
        """Holds no request open: every answer ended, every hang was let go."""
        return self.in_flight == 0 and self.open_streams == 0

    def reset(self) -> None:
        self.mode = "ok"
        self.retry_after = "1"
        self.delay = 0.0

    # ---- the wire ------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        try:
            body = await request.json()
            mode = self._mode
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.peers.append(request.transport.get_extra_info("peername")[:2])
            self.received.append(ReceivedRequest(request.path, headers, body))
            self.request_ids.append(headers.get("x-llmrelay-request-id", ""))
            self.counts[mode] += 1
            if headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
                return _error(401, "Incorrect API key provided", "invalid_request_error", None)
            return await FAULTS.get(mode, _answer)(self, request, body)
        finally:
            self.in_flight -= 1


def _chunk(body: dict[str, Any], choices: list[dict[str, Any]], **extra: Any) -> bytes:
    chunk = {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
        "choices": choices,
        **extra,
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _delta(content: str, role: bool = False, finish: str | None = None) -> list[dict[str, Any]]:
    delta: dict[str, Any] = {"role": "assistant", "content": content} if role else {}
    if content and not role:
        delta["content"] = content
    return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]


async def _open(mock: FaultUpstream, request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    return response


async def _two_frames(response: web.StreamResponse, body: dict[str, Any]) -> None:
    await response.write(_chunk(body, _delta("", role=True)))
    await response.write(_chunk(body, _delta("echo:")))


def _whole(body: dict[str, Any], words: list[str], usage: dict[str, Any] | None) -> web.Response:
    message = {"role": "assistant", "content": " ".join(words), "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    return _whole_with(body, choice, usage)


def _whole_with(
    body: dict[str, Any], choice: dict[str, Any], usage: dict[str, Any] | None
) -> web.Response:
    answer: dict[str, Any] = {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [choice],
    }
    if usage is not None:
        answer["usage"] = usage
    return web.json_response(answer, dumps=lambda o: orjson.dumps(o).decode())


def _status(status: int) -> Any:
    async def handler(mock: FaultUpstream, request: web.Request, body: dict[str, Any]):
        if status == 400:
            return _error(400, "Invalid value for 'logit_bias'.", "invalid_request_error", "bad")
        if status == 429:
            return _error(
                429,
                "Rate limit reached for requests",
                "requests",
                "rate_limit_exceeded",
                headers={"retry-after": mock.retry_after},
            )
        return _error(status, f"The server had an error ({status}).", "server_error", None)

    return handler


async def _hang_before_headers(mock, request, body):
    await asyncio.sleep(3600)


async def _hang_mid_stream(mock, request, body):
    if not body.get("stream"):
        await asyncio.sleep(3600)
    response = await _open(mock, request)
    await _two_frames(response, body)
    await asyncio.sleep(3600)
    return response


def _reset(request: web.Request) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), as a crashed upstream would."""
    sock = request.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.transport.abort()


async def _reset_mid_stream(mock, request, body):
    if not body.get("stream"):
        _reset(request)
        await asyncio.sleep(3600)  # cancelled at once: the connection is gone
    response = await _open(mock, request)
    await _two_frames(response, body)
    await asyncio.sleep(0.05)  # let the frames leave before the reset
    _reset(request)
    await asyncio.sleep(3600)
    return response


async def _malformed_sse(mock, request, body):
    if not body.get("stream"):
        return await _malformed_json(mock, request, body)
    response = await _open(mock, request)
    await _two_frames(response, body)
    await response.write(b'data: {"id": "chatcmpl-fault", "choices": [{"delta": \n\n')
    await response.write(b"data: [DONE]\n\n")
    return response


async def _malformed_json(mock, request, body):
    if not body.get("stream"):
        return web.Response(
            status=200,
            body=b'{"id": "chatcmpl-fault", "choices": [',
            content_type="application/json",
        )
    response = await _open(mock, request)
    await response.write(b"data: <html>Bad gateway</html>\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


async def _usage_in_non_final_frame(mock, request, body):
    words = answer_words(body)
    if not body.get("stream"):
        return _whole(body, words, usage_for(body, words))
    response = await _open(mock, request)
    await response.write(_chunk(body, _delta("", role=True)))
    for i, word in enumerate(words):
        await response.write(_chunk(body, _delta(word if i == 0 else " " + word)))
    await response.write(_chunk(body, _delta("", finish="stop"), usage=usage_for(body, words)))
    await response.write(b"data: [DONE]\n\n")
    return response


async def _no_usage(mock, request, body):
    words = answer_words(body)
    if not body.get("stream"):
        return _whole(body, words, None)
    response = await _open(mock, request)
    await response.write(_chunk(body, _delta("", role=True)))
    for i, word in enumerate(words):
        await response.write(_chunk(body, _delta(word if i == 0 else " " + word)))
    await response.write(_chunk(body, _delta("", finish="stop")))
    await response.write(b"data: [DONE]\n\n")
    return response


async def _slow_headers(mock, request, body):
    await asyncio.sleep(mock.delay)
    return await _answer(mock, request, body)


async def _slow_first_token(mock, request, body):
    if not body.get("stream"):
        return await _slow_headers(mock, request, body)
    response = await _open(mock, request)
    await asyncio.sleep(mock.delay)
    words = answer_words(body)
    for i, word in enumerate(words):
        await response.write(_chunk(body, _delta(word if i == 0 else " " + word, role=i == 0)))
    await response.write(_chunk(body, _delta("", finish="stop")))
    await response.write(b"data: [DONE]\n\n")
    return response


async def _hang_after_headers(mock, request, body):
    await _open(mock, request)
    await asyncio.sleep(3600)


CONTEXT_LENGTH_ERROR = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 8227 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
CONTENT_FILTER_ERROR = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "high"},
            },
        },
    }
}


def _refusal(payload: dict[str, Any]) -> Any:
    async def handler(mock: FaultUpstream, request: web.Request, body: dict[str, Any]):
        return web.Response(status=400, body=orjson.dumps(payload), content_type="application/json")

    return handler


async def _filtered_answer(mock, request, body):
    if not body.get("stream"):
        message = {"role": "assistant", "content": None, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None}
        choice["finish_reason"] = "content_filter"
        return _whole_with(body, choice, usage_for(body, []))
    response = await _open(mock, request)
    await response.write(_chunk(body, _delta("", role=True)))
    await asyncio.sleep(0.05)  # the role and the refusal arrive in reads of their own
    await response.write(_chunk(body, _delta("", finish="content_filter")))
    await response.write(_chunk(body, [], usage=usage_for(body, [])))
    await response.write(b"data: [DONE]\n\n")
    return response


FAULTS: dict[str, Any] = {
    "slow_headers": _slow_headers,
    "slow_first_token": _slow_first_token,
    "hang_after_headers": _hang_after_headers,
    "hang_before_headers": _hang_before_headers,
    "hang_mid_stream": _hang_mid_stream,
    "reset_mid_stream": _reset_mid_stream,
    "malformed_sse": _malformed_sse,
    "malformed_json": _malformed_json,
    "usage_in_non_final_frame": _usage_in_non_final_frame,
    "no_usage": _no_usage,
}
FAULTS.update({status: _status(int(status)) for status in ("400", "429", "500", "503")})
FAULTS["context_length"] = _refusal(CONTEXT_LENGTH_ERROR)
FAULTS["content_filter"] = _refusal(CONTENT_FILTER_ERROR)
FAULTS["filtered_answer"] = _filtered_answer
