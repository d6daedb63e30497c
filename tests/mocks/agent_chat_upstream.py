"""A recording mock model for the coding CLIs behind a relay, speaking OpenAI Chat Completions
(https://platform.openai.com/docs/api-reference/chat/create, /chat-streaming): what the
relay's Responses door translates Codex's requests into.

It follows the same script as `agent_upstream.py`: when the user asks to run `a command` in
backticks and the request offers Codex's shell tool, the first answer calls that tool with the
command; once the conversation ends with the tool's output, the answer quotes what it printed.
Any other prompt gets a plain answer quoting the prompt's last line. Whole or streamed (the
tool call's arguments in pieces, then `finish_reason`, then the usage chunk and `[DONE]`).

A model name ending in `-thinking` thinks as DeepSeek's thinking mode does
(openai_thinking_tools.py): `reasoning_content` before each answer, and a 400 for a tool-call
turn sent back without it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.mocks.agent_upstream import (
    RUN_COMMAND,
    SHELL_TOOLS,
    plain_answer,
    shell_call_arguments,
    tool_answer,
)
from tests.mocks.openai_thinking_tools import THOUGHT, missing_reasoning
from tests.mocks.server import ThreadedServer

CALL_ID = "call_mock_exec"


@dataclass
class MockAgentChatModel(ThreadedServer):
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(body)
        message, finish = chat_answer(body)
        if body["model"].endswith("-thinking"):
            where = missing_reasoning(body["messages"])
            if where is not None:
                error = {"message": f"Missing `reasoning_content` at message index {where}."}
                return web.json_response({"error": error}, status=400)
            message["reasoning_content"] = THOUGHT
        usage = {"prompt_tokens": len(json.dumps(body)) // 4, "completion_tokens": 7}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": "chatcmpl-agent", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "finish_reason": finish}
            return web.json_response(
                {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        base["object"] = "chat.completion.chunk"
        for delta in stream_deltas(message):
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            await _send(response, {**base, "choices": [choice]})
        await _send(
            response, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        )
        await _send(response, {**base, "choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        return response


async def _send(response: web.StreamResponse, chunk: dict[str, Any]) -> None:
    await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")


def stream_deltas(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The message in pieces: the role, then the text or the call's arguments in halves."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if message.get("reasoning_content"):
        deltas.append({"reasoning_content": message["reasoning_content"]})
    if message.get("content"):
        text = message["content"]
        deltas += [{"content": text[: len(text) // 2]}, {"content": text[len(text) // 2 :]}]
    for index, call in enumerate(message.get("tool_calls") or ()):
        arguments = call["function"]["arguments"]
        head = {"index": index, "id": call["id"], "type": "function"}
        head["function"] = {"name": call["function"]["name"], "arguments": ""}
        deltas.append({"tool_calls": [head]})
        for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return deltas


def _prompt(messages: list[dict[str, Any]]) -> str:
    """The last user text that is not a CLI's own context block (`<environment_context>`)."""
    for message in reversed(messages):
        if message["role"] != "user":
            continue
        content = message["content"]
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content]
        parts = [p for p in parts if p and not p.lstrip().startswith("<")]
        if parts:
            return parts[-1]
    return ""


def _tool_outputs(messages: list[dict[str, Any]]) -> list[str]:
    outputs = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        outputs.append(str(message["content"]))
    return outputs[::-1]


def chat_answer(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The assistant message and its finish reason."""
    messages = body["messages"]
    outputs = _tool_outputs(messages)
    if outputs:
        return {"role": "assistant", "content": tool_answer("\n".join(outputs))}, "stop"
    prompt = _prompt(messages)
    command = RUN_COMMAND.search(prompt)
    tools = {t["function"]["name"]: t["function"] for t in body.get("tools", [])}
    shell = next((tools[name] for name in SHELL_TOOLS if name in tools), None)
    if command and shell:
        arguments = json.dumps(shell_call_arguments(shell, command.group(1)))
        call = {"id": CALL_ID, "type": "function"}
        call["function"] = {"name": shell["name"], "arguments": arguments}
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {"role": "assistant", "content": plain_answer(prompt)}, "stop"
