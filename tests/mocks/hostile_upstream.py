"""A hostile upstream: it echoes the credentials it was sent in every field of its errors.

One server speaks the three wire formats the relay knows, each in its vendor's exact error
shape:
- OpenAI's `POST /v1/chat/completions`: `{"error": {message, type, param, code}}`; in a
  stream, a `data: {"error": {...}}` event.
- Anthropic's `POST /v1/messages`: `{"type": "error", "error": {type, message}}`; in a stream,
  `event: error` with the same body.
- Gemini's `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`:
  `{"error": {code, message, status, details}}`, also as a stream frame.

The credentials are every header value the relay sent but the transport's own (its API key
and any header the operator configured). Every string field of an error holds each of them
in every form that leaked before: whole, its 20-character tail, a 10-character slice,
base64-encoded (bare, and inside a `Basic` or `Bearer` header value), URL-encoded (inside a
query string) and in lower case (`leak_text`).

The scenario is the upstream model's name: `fail-<status>` (400, 401, 422, 429, 500),
`early-error` (a stream whose first event is the error), `midstream-error` (one token, then the
error), `finish-leak` (a normal answer whose finish reason is the leak; the relay logs a reason
it does not know), and `param-<field>` (a 400 whose `param` is `<field>`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
from aiohttp import web

from tests.mocks.server import ThreadedServer

TRANSPORT_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "anthropic-version",
        "connection",
        "content-length",
        "content-type",
        "host",
        "user-agent",
        "x-request-id",
    }
)
ERROR_STATUSES = {"fail-400": 400, "fail-401": 401, "fail-422": 422, "fail-429": 429}
ERROR_STATUSES["fail-500"] = 500
GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 422: "INVALID_ARGUMENT"}
GEMINI_STATUS |= {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def leak_forms(credential: str) -> list[str]:
    """One credential in every form a careless upstream has been seen to echo."""
    raw = credential.encode()
    return [
        credential,
        credential[-20:],
        credential[5:15],
        credential.lower(),
        base64.b64encode(raw).decode(),
        base64.b64encode(b"Bearer " + raw).decode(),
        base64.urlsafe_b64encode(b"relay:" + raw).decode(),
        "key=" + quote(credential, safe=""),
        "authorization=" + quote_plus("Bearer " + credential),
    ]


def leak_text(credentials: list[str]) -> str:
    return " ".join(form for credential in credentials for form in leak_forms(credential))


def _credentials(request: web.Request) -> list[str]:
    values = [v for k, v in request.headers.items() if k.lower() not in TRANSPORT_HEADERS]
    return [v.removeprefix("Bearer ") for v in values]


# ---- each vendor's error body, every field leaking -----------------------------------------


def openai_error(leak: str, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Incorrect API key provided: {leak}",
            "type": f"authorization=Bearer {leak}",
            "param": param if param is not None else f"authorization={leak}",
            "code": f"invalid_api_key {leak}",
        }
    }


def anthropic_error(leak: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": f"x-api-key={leak}", "message": f"invalid x-api-key: {leak}"},
        "request_id": f"req_{leak}",
    }


def gemini_error(status: int, leak: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": f"API key not valid: {leak}",
            "status": f"{GEMINI_STATUS.get(status, 'UNKNOWN')} x-goog-api-key={leak}",
            "details": [
                {
                    "@type": ERROR_INFO,
                    "reason": f"KEY_ECHO {leak}",
                    "domain": "googleapis.com",
                    "metadata": {"key": leak, "service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": leak, "description": leak}],
                },
            ],
        }
    }


# ---- the server -------------------------------------------------------------------------------


@dataclass
class HostileUpstream(ThreadedServer):
    port: int = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1beta/models/{target}", self._gemini)

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        scenario, leak = body["model"], leak_text(_credentials(request))
        if scenario in ERROR_STATUSES:
            return _json(ERROR_STATUSES[scenario], openai_error(leak))
        if scenario.startswith("param-"):
            return _json(400, openai_error(leak, param=scenario.removeprefix("param-")))
        chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1}
        chunk |= {"model": scenario}
        first = chunk | {"choices": [{"index": 0, "delta": {"content": "partial"}}]}
        events = [first] if scenario == "midstream-error" else []
        events.append(openai_error(leak))
        return await _sse(request, [(None, event) for event in events])

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        scenario, leak = body["model"], leak_text(_credentials(request))
        if scenario in ERROR_STATUSES:
            return _json(ERROR_STATUSES[scenario], anthropic_error(leak))
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": scenario}
        message |= {"content": [], "stop_reason": None, "usage": {"input_tokens": 3}}
        if scenario == "finish-leak" and not body.get("stream"):
            text = [{"type": "text", "text": "done"}]
            answer = message | {"content": text, "stop_reason": leak}
            return _json(200, answer | {"usage": {"input_tokens": 3, "output_tokens": 1}})
        block = {"type": "text", "text": ""}
        events = [
            ("message_start", {"type": "message_start", "message": message}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            ),
        ]
        if scenario in ("midstream-error", "finish-leak"):
            delta = {"type": "text_delta", "text": "partial"}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            )
        if scenario == "finish-leak":
            stop = {"type": "message_delta", "delta": {"stop_reason": leak}}
            events.append(("message_delta", stop | {"usage": {"output_tokens": 1}}))
            events.append(("message_stop", {"type": "message_stop"}))
        else:
            events.append(("error", anthropic_error(leak)))
        return await _sse(request, events)

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        scenario, _, method = request.match_info["target"].partition(":")
        leak = leak_text(_credentials(request))
        if scenario in ERROR_STATUSES:
            status = ERROR_STATUSES[scenario]
            return _json(status, gemini_error(status, leak))
        usage = {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}
        text = {"content": {"role": "model", "parts": [{"text": "partial"}]}, "index": 0}
        if scenario == "finish-leak":
            frame = {"candidates": [text | {"finishReason": leak}], "usageMetadata": usage}
            if method == "generateContent":
                return _json(200, frame)
            return await _sse(request, [(None, frame)])
        frames = [{"candidates": [text]}] if scenario == "midstream-error" else []
        frames.append(gemini_error(500, leak))
        return await _sse(request, [(None, frame) for frame in frames])


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


async def _sse(request: web.Request, events: list[tuple[str | None, Any]]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for name, data in events:
        head = f"event: {name}\n".encode() if name else b""
        await response.write(head + b"data: " + orjson.dumps(data) + b"\n\n")
    await response.write_eof()
    return response
