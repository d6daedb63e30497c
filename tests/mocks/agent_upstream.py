"""A recording mock model for the real coding CLIs (Claude Code and Codex), on one port.

It speaks just enough of two vendor wire formats to carry a CLI through a session:
- Anthropic Messages (https://docs.anthropic.com/en/api/messages, /en/api/messages-streaming):
  `POST /v1/messages` whole or as SSE, `POST /v1/messages/count_tokens`, and `GET /v1/models`
  in Anthropic's list shape (https://docs.anthropic.com/en/api/models-list);
- OpenAI Responses (https://platform.openai.com/docs/api-reference/responses-streaming):
  `POST /v1/responses` as SSE, `response.created` ... `response.completed` with usage;
- OpenAI Chat Completions, whole or streamed, with tool calls (agent_chat.py): what a relay
  sends an OpenAI-compatible upstream when it translates a CLI's requests.

Every request is recorded (method, path, headers, body), also on paths it does not serve.
What it answers is scripted by the conversation, not by the test: when a user message asks to
run `a command` in backticks, the first answer calls the CLI's own shell tool with that command,
and once the request carries the tool's result, the answer quotes what the tool printed.
Any other prompt gets a plain text answer that quotes the prompt's last line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.mocks.agent_chat import chat_answer, stream_chat, whole_chat
from tests.mocks.anthropic_upstream import stream as stream_anthropic
from tests.mocks.openai_responses_stream import (
    function_call_item,
    message_item,
    stream_response,
    whole_response,
)
from tests.mocks.server import ThreadedServer

RUN_COMMAND = re.compile(r"run `([^`]+)`", re.IGNORECASE)
PLAIN_ANSWER = "relay-plain-answer:"
TOOL_ANSWER = "The command printed:"
ANTHROPIC_MODELS = ("claude-relay-test",)


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class MockAgentModel(ThreadedServer):
    """Answers Claude Code on the Anthropic paths and Codex on `/v1/responses`."""

    received: list[Recorded] = field(default_factory=list)

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._record_unrouted)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/chat/completions", self._chat)

    @web.middleware
    async def _record_unrouted(self, request: web.Request, handler) -> web.StreamResponse:
        """Records what no route takes, such as a proxy's `CONNECT host:443`, and 404s it."""
        if request.match_info.http_exception is None:
            return await handler(request)
        await self._record(request)
        status = request.match_info.http_exception.status
        return web.json_response({"error": {"message": "not served by the mock"}}, status=status)

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.received if r.path == path]

    def outbound(self) -> list[str]:
        """Requests meant for another host: what a client sent here as to its proxy."""
        own = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        return [
            f"{r.method} {r.headers.get('host')}"
            for r in self.received
            if r.method == "CONNECT" or r.headers.get("host") not in own
        ]

    async def _record(self, request: web.Request) -> Recorded:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = request.path or request.raw_path
        seen = Recorded(request.method, path, request.query_string, headers, body)
        self.received.append(seen)
        return seen

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response(anthropic_models())

    async def _count_tokens(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        return web.json_response({"input_tokens": count_tokens(seen.body)})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = (await self._record(request)).body
        whole = anthropic_answer(body)
        if not body.get("stream"):
            return web.json_response(whole)
        return await stream_anthropic(request, whole)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = (await self._record(request)).body
        message = chat_answer(body, plain_answer, tool_answer, RUN_COMMAND)
        if not body.get("stream"):
            return web.json_response(whole_chat(body, message))
        return await stream_chat(request, body, message)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = (await self._record(request)).body
        output = responses_output(body)
        if not body.get("stream"):
            return web.json_response(whole_response(body, output))
        return await stream_response(request, body, output)


# ---- what to say -----------------------------------------------------------------------


def count_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


def anthropic_models() -> dict[str, Any]:
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"}
        for m in ANTHROPIC_MODELS
    ]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}


def plain_answer(prompt: str) -> str:
    lines = [line for line in prompt.strip().splitlines() if line.strip()]
    return f"{PLAIN_ANSWER} {lines[-1] if lines else ''}"


def tool_answer(output: str) -> str:
    return f"{TOOL_ANSWER} {output.strip()}"


# ---- Anthropic Messages ----------------------------------------------------------------


def _texts(content: str | list[dict[str, Any]]) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in content if b.get("type") == "text"]


def _anthropic_prompt(body: dict[str, Any]) -> str:
    """The text the person typed: the last user text that is not a <system-reminder>."""
    for message in reversed(body["messages"]):
        if message["role"] != "user":
            continue
        texts = [t for t in _texts(message["content"]) if not t.startswith("<system-reminder>")]
        if texts:
            return texts[-1]
    return ""


def _anthropic_tool_results(body: dict[str, Any]) -> list[str]:
    last = body["messages"][-1]["content"]
    if isinstance(last, str):
        return []
    results = [b for b in last if b.get("type") == "tool_result"]
    return ["\n".join(_texts(b.get("content", ""))) for b in results]


def _anthropic_message(body: dict[str, Any], content: list[dict[str, Any]], stop: str) -> dict:
    usage = {"input_tokens": count_tokens(body.get("messages")), "output_tokens": 5}
    usage |= {"cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
    return {
        "id": f"msg_mock{len(body['messages']):04d}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def anthropic_answer(body: dict[str, Any]) -> dict[str, Any]:
    results = _anthropic_tool_results(body)
    if results:
        text = {"type": "text", "text": tool_answer("\n".join(results))}
        return _anthropic_message(body, [text], "end_turn")
    prompt = _anthropic_prompt(body)
    command = RUN_COMMAND.search(prompt)
    tools = {t.get("name") for t in body.get("tools", [])}
    if command and "Bash" in tools:
        call = {"command": command.group(1), "description": "Run the requested command"}
        use = {"type": "tool_use", "id": "toolu_mock_bash", "name": "Bash", "input": call}
        return _anthropic_message(body, [use], "tool_use")
    text = {"type": "text", "text": plain_answer(prompt)}
    return _anthropic_message(body, [text], "end_turn")


# ---- OpenAI Responses ------------------------------------------------------------------


def _responses_prompt(body: dict[str, Any]) -> str:
    """The last user message's last text part that is not Codex's own context block."""
    items = body.get("input")
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if item.get("type", "message") != "message" or item.get("role") != "user":
            continue
        content = item.get("content")
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content]
        parts = [p for p in parts if p and not p.lstrip().startswith("<")]
        if parts:
            return parts[-1]
    return ""


def _responses_tool_outputs(body: dict[str, Any]) -> list[str]:
    items = body.get("input")
    if not isinstance(items, list):
        return []
    outputs = []
    for item in reversed(items):
        if item.get("type") not in ("function_call_output", "custom_tool_call_output"):
            break
        output = item.get("output")
        if isinstance(output, list):
            output = "\n".join(p.get("text", "") for p in output)
        outputs.append(str(output))
    return outputs[::-1]


def shell_call_arguments(tool: dict[str, Any], command: str) -> dict[str, Any]:
    """Arguments for Codex's shell tool, in the shape its JSON schema asks for."""
    properties = (tool.get("parameters") or {}).get("properties", {})
    if "cmd" in properties:  # exec_command
        return {"cmd": command}
    if properties.get("command", {}).get("type") == "array":  # shell
        return {"command": ["bash", "-lc", command]}
    return {"command": command}  # shell_command


SHELL_TOOLS = ("exec_command", "shell_command", "shell")


def _shell_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = {t.get("name"): t for t in body.get("tools", []) if t.get("type") == "function"}
    return next((tools[name] for name in SHELL_TOOLS if name in tools), None)


def responses_output(body: dict[str, Any]) -> list[dict[str, Any]]:
    outputs = _responses_tool_outputs(body)
    if outputs:
        return [message_item(tool_answer("\n".join(outputs)))]
    prompt = _responses_prompt(body)
    command = RUN_COMMAND.search(prompt)
    tool = _shell_tool(body)
    if command and tool:
        arguments = shell_call_arguments(tool, command.group(1))
        return [function_call_item(tool["name"], arguments)]
    return [message_item(plain_answer(prompt))]
