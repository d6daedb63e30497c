"""A mock Anthropic Messages API that speaks the exact wire format
(https://docs.anthropic.com/en/api/messages, /en/api/messages-streaming and /en/api/errors).

`POST /v1/messages` checks `x-api-key` and `anthropic-version`, rejects requests the real API
rejects (alternation, thinking rules, temperature > 1, blank stops, unknown fields...), and
answers whole or as named SSE events: `message_start`, `content_block_start/delta/stop` (with
`thinking_delta` then `signature_delta` just before the block stops, and `input_json_delta`
fragments whose first is ""), a `ping`, `message_delta`, `message_stop`. The scenario is
chosen by the model name; every request is recorded for field-by-field assertions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.mocks.server import ThreadedServer

ANTHROPIC_KEY = "sk-ant-mock-secret-0123456789abcdefghijklmnopqrst"
VERSION = "2023-06-01"
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
TOOLS_ANSWER = [
    ("toolu_01A", "get_weather", {"city": "Paris", "days": 3}),
    ("toolu_01B", "now", {}),
]
TOP_LEVEL = {"model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k"}
TOP_LEVEL |= {"stop_sequences", "stream", "metadata", "tools", "tool_choice", "thinking"}
BETA_FIELDS = {"context_management": "context-management-", "output_config": "effort-"}
"""Fields Anthropic takes only with their beta in `anthropic-beta` (as a pass-through sends)."""
VERSION_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")
BLOCKS = {"user": {"text", "image", "document", "tool_result"}}
BLOCKS["assistant"] = {"text", "thinking", "redacted_thinking", "tool_use"}


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


Handler = Callable[["MockAnthropic", web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


@dataclass
class MockAnthropic(ThreadedServer):
    host: str = "127.0.0.1"
    port: int = 0
    received: list[ReceivedRequest] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    def last(self) -> ReceivedRequest:
        return self.received[-1]

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(ReceivedRequest(request.path, headers, body))
        if headers.get("x-api-key") != ANTHROPIC_KEY:
            return error_response(
                401, "authentication_error", f"invalid x-api-key {headers.get('x-api-key')}"
            )
        if not VERSION_SHAPE.fullmatch(headers.get("anthropic-version") or ""):
            return error_response(400, "invalid_request_error", "bad anthropic-version")
        problem = invalid(body, headers.get("anthropic-beta") or "")
        if problem:
            return error_response(400, "invalid_request_error", problem)
        model = body["model"]
        handler = SCENARIOS.get(model, _stop_reason if model.startswith("mock-stop-") else _echo)
        return await handler(self, request, body)


def error_response(status: int, kind: str, message: str, **headers: str) -> web.Response:
    payload = {"type": "error", "error": {"type": kind, "message": message}}
    payload["request_id"] = "req_mock0123"
    return web.json_response(
        payload, status=status, headers={"request-id": "req_mock0123", **headers}
    )


# ---- what the real API refuses ---------------------------------------------------------


def _block_problem(role: str, block: dict[str, Any]) -> str | None:
    kind = block.get("type")
    if kind not in BLOCKS[role]:
        return f"{role} messages cannot contain {kind} blocks"
    if kind == "text" and not block["text"].strip():
        return "text content blocks must contain non-whitespace text"
    if kind == "image" and block["source"]["type"] not in ("base64", "url"):
        return "bad image source"
    if kind == "tool_use" and not isinstance(block.get("input"), dict):
        return "tool_use.input must be an object"
    return None


def _message_problem(index: int, message: dict[str, Any], body: dict[str, Any]) -> str | None:
    if message["role"] != ("user" if index % 2 == 0 else "assistant"):
        return f"messages.{index}: roles must alternate, starting with user"
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    for block in blocks:
        problem = _block_problem(message["role"], block)
        if problem:
            return f"messages.{index}: {problem}"
        if block["type"] in ("tool_use", "tool_result") and not body.get("tools"):
            return "tool blocks need tools to be defined"
    return None


def _thinking_problem(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if not thinking or thinking.get("type") != "enabled":
        return None
    if not 1024 <= thinking["budget_tokens"] < body["max_tokens"]:
        return "thinking.budget_tokens must be >= 1024 and less than max_tokens"
    if body.get("temperature", 1) != 1 or "top_p" in body or "top_k" in body:
        return "temperature may only be 1 and top_p/top_k unset when thinking is enabled"
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    last = [m for m in body["messages"] if m["role"] == "assistant"][-1:]
    content = last[0]["content"] if last else ""
    uses_tools = isinstance(content, list) and any(b["type"] == "tool_use" for b in content)
    if uses_tools and content[0]["type"] not in ("thinking", "redacted_thinking"):
        return "a final assistant message must start with a thinking block"
    return None


def invalid(body: dict[str, Any], betas: str = "") -> str | None:
    allowed = TOP_LEVEL | {field for field, beta in BETA_FIELDS.items() if beta in betas}
    extra = set(body) - allowed
    if extra:
        return f"{sorted(extra)[0]}: Extra inputs are not permitted"
    if not isinstance(body.get("max_tokens"), int) or not body.get("messages"):
        return "max_tokens and messages are required"
    if not 0 <= body.get("temperature", 0) <= 1:
        return "temperature: must be between 0 and 1"
    if any(not s.strip() for s in body.get("stop_sequences", [])):
        return "stop_sequences: each stop sequence must contain non-whitespace"
    if "tool_choice" in body and not body.get("tools"):
        return "tool_choice may only be specified while providing tools"
    system = body.get("system", [])
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system:
        if block["type"] != "text" or not block["text"].strip():
            return "system: text content blocks must be non-empty"
    # Mid-conversation system messages (Claude Code sends them) stand outside the turns.
    turns = [m for m in body["messages"] if m.get("role") != "system"]
    for index, message in enumerate(turns):
        problem = _message_problem(index, message, body)
        if problem:
            return problem
    return _thinking_problem(body)


# ---- answers ---------------------------------------------------------------------------


def user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(b["text"] for b in content if b["type"] == "text")


def _thinking_blocks(body: dict[str, Any], text: str) -> list[dict[str, Any]]:
    if (body.get("thinking") or {}).get("type") != "enabled":
        return []
    blocks = [{"type": "thinking", "thinking": f"The user wrote: {text}", "signature": SIGNATURE}]
    if "redact" in text:
        blocks.append({"type": "redacted_thinking", "data": REDACTED})
    return blocks


def _cut(body: dict[str, Any], text: str) -> tuple[str, str, str | None]:
    """The answer text, stop reason and stop sequence, honouring stops and max_tokens."""
    for stop in body.get("stop_sequences", []):
        if stop in text:
            return text[: text.index(stop)], "stop_sequence", stop
    words = text.split(" ")
    if len(words) > body["max_tokens"]:
        return " ".join(words[: body["max_tokens"]]), "max_tokens", None
    return text, "end_turn", None


def message(body: dict[str, Any], content: list[dict[str, Any]], stop: str, seq=None) -> dict:
    fields = [str(b.get(k, "")) for b in content for k in ("text", "thinking", "input")]
    output = sum(len(f.split()) for f in fields) + 1
    prompt = len(json.dumps(body["messages"]).split()) + len(json.dumps(body.get("system")))
    usage = {"input_tokens": prompt, "output_tokens": output}
    usage |= {"cache_read_input_tokens": 4, "cache_creation_input_tokens": 2}
    return {
        "id": "msg_01MockAnswer",
        "type": "message",
        "role": "assistant",
        "model": body["model"] + "-20260101",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": seq,
        "usage": usage,
    }


def _json_answer(text: str) -> dict[str, Any]:
    data = {"echo": text, "words": len(text.split()), "ok": True, "città": "Zürich"}
    return {"type": "tool_use", "id": "toolu_json", "name": "json_tool_call", "input": data}


async def _echo(mock: MockAnthropic, request: web.Request, body: dict[str, Any]):
    text = user_text(body)
    content = _thinking_blocks(body, text)
    if any(t["name"] == "json_tool_call" for t in body.get("tools", [])):
        whole = message(body, [*content, _json_answer(text)], "tool_use")
        return await answer(mock, request, body, whole)
    reply, stop, seq = _cut(body, f"echo: {text}")
    content.append({"type": "text", "text": reply})
    return await answer(mock, request, body, message(body, content, stop, seq))


async def _stop_reason(mock: MockAnthropic, request: web.Request, body: dict[str, Any]):
    content = [{"type": "text", "text": f"echo: {user_text(body)}"}]
    reason = body["model"].removeprefix("mock-stop-")
    return await answer(mock, request, body, message(body, content, reason))


def _result_text(content: str | list[dict[str, Any]]) -> str:
    return content if isinstance(content, str) else " ".join(b["text"] for b in content)


async def _tools(mock: MockAnthropic, request: web.Request, body: dict[str, Any]):
    content = _thinking_blocks(body, user_text(body))
    last = body["messages"][-1]["content"]
    results = [b for b in last if b["type"] == "tool_result"] if isinstance(last, list) else []
    if results:
        said = "; ".join(_result_text(b.get("content", "")) for b in results)
        content.append({"type": "text", "text": f"results: {said}"})
        return await answer(mock, request, body, message(body, content, "end_turn"))
    content.append({"type": "text", "text": "Let me check."})
    one = body.get("tool_choice", {}).get("disable_parallel_tool_use")
    calls = TOOLS_ANSWER[:1] if one else TOOLS_ANSWER
    for id_, name, args in calls:
        content.append({"type": "tool_use", "id": id_, "name": name, "input": args})
    return await answer(mock, request, body, message(body, content, "tool_use"))


async def answer(
    mock: MockAnthropic, request: web.Request, body: dict[str, Any], whole: dict, **how: Any
) -> web.StreamResponse:
    mock.answers.append(whole)
    if not body.get("stream"):
        return web.json_response(whole, headers={"request-id": "req_mock0123"})
    return await stream(request, whole, **how)


# ---- the event stream ------------------------------------------------------------------


def _pieces(text: str, size: int = 6) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def block_events(block: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `content_block_start` block and the deltas that rebuild `block`."""
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": ""}, [
            {"type": "text_delta", "text": p} for p in _pieces(block["text"])
        ]
    if kind == "thinking":
        deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return {"type": "thinking", "thinking": "", "signature": ""}, deltas
    if kind == "tool_use":
        raw = json.dumps(block["input"], ensure_ascii=False) if block["input"] else ""
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in ["", *_pieces(raw, 7)]]
        return {**block, "input": {}}, deltas
    return block, []


async def stream(
    request: web.Request, whole: dict[str, Any], fail_after: int | None = None, cut: bool = False
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)

    async def send(name: str, data: dict[str, Any]) -> None:
        line = f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"
        await response.write(line.encode())

    usage = whole["usage"]
    start = {**whole, "content": [], "stop_reason": None, "stop_sequence": None}
    await send("message_start", {"message": {**start, "usage": {**usage, "output_tokens": 1}}})
    sent = 0
    for index, block in enumerate(whole["content"]):
        first, deltas = block_events(block)
        await send("content_block_start", {"index": index, "content_block": first})
        if index == 0:
            await send("ping", {})
        for delta in deltas:
            if fail_after is not None and sent == fail_after:
                await send(
                    "error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}
                )
                return response
            await send("content_block_delta", {"index": index, "delta": delta})
            sent += 1
        await send("content_block_stop", {"index": index})
    stop = {"stop_reason": whole["stop_reason"], "stop_sequence": whole["stop_sequence"]}
    await send("message_delta", {"delta": stop, "usage": {"output_tokens": usage["output_tokens"]}})
    if not cut:
        await send("message_stop", {})
    return response


# ---- failures --------------------------------------------------------------------------


def _failing(status: int, kind: str, text: str, **headers: str) -> Handler:
    async def handler(mock: MockAnthropic, request: web.Request, body: dict[str, Any]):
        return error_response(status, kind, text, **headers)

    return handler


async def _midstream_error(mock: MockAnthropic, request: web.Request, body: dict[str, Any]):
    content = [{"type": "text", "text": f"echo: {user_text(body)} and more words"}]
    return await answer(mock, request, body, message(body, content, "end_turn"), fail_after=2)


async def _cut_stream(mock: MockAnthropic, request: web.Request, body: dict[str, Any]):
    content = [{"type": "text", "text": f"echo: {user_text(body)}"}]
    return await answer(mock, request, body, message(body, content, "end_turn"), cut=True)


SCENARIOS: dict[str, Handler] = {
    "mock-tools": _tools,
    "mock-400": _failing(400, "invalid_request_error", "messages.0: something is wrong"),
    "mock-403": _failing(403, "permission_error", "Your API key does not have permission"),
    "mock-429": _failing(
        429, "rate_limit_error", "Number of requests exceeded", **{"retry-after": "7"}
    ),
    "mock-500": _failing(500, "api_error", "Internal server error"),
    "mock-too-long": _failing(
        400, "invalid_request_error", "prompt is too long: 208656 tokens > 200000 maximum"
    ),
    "mock-529": _failing(529, "overloaded_error", "Overloaded"),
    "mock-midstream-error": _midstream_error,
    "mock-cut": _cut_stream,
}
