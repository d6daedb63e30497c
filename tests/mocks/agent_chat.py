"""The agent mock model's OpenAI Chat Completions side
(https://platform.openai.com/docs/api-reference/chat, /chat-streaming): what a relay sends
when it translates a CLI's request for an OpenAI-compatible upstream.

It follows the conversation the way the Anthropic and Responses sides do (see
agent_upstream.py): a request whose last turn carries tool results gets an answer quoting them;
a prompt asking to run `a command` gets a call of the `Bash` function; any other prompt gets a
plain answer quoting the prompt's first line. Answers are whole or streamed (with the tool
call's arguments in fragments, and usage in a last chunk when asked).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aiohttp import web

REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
CALL_ID = "call_mock_bash"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(p.get("text", "") for p in content or () if p.get("type") == "text")


def chat_prompt(body: dict[str, Any]) -> str:
    """The first line the person typed in the last user turn: a relay may have joined the
    CLI's reminders and mid-conversation system text into that turn."""
    for message in reversed(body["messages"]):
        if message["role"] != "user":
            continue
        lines = [line for line in REMINDER.sub("", _text(message["content"])).splitlines()]
        lines = [line for line in lines if line.strip()]
        if lines:
            return lines[0]
    return ""


def chat_tool_results(body: dict[str, Any]) -> list[str]:
    """What the tool messages answering the last assistant turn's calls say (without the
    reminders a CLI appends to a tool's output)."""
    messages = body["messages"]
    last_assistant = max(
        (i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None
    )
    if last_assistant is None or not messages[last_assistant].get("tool_calls"):
        return []
    tool_messages = [m for m in messages[last_assistant + 1 :] if m["role"] == "tool"]
    return [REMINDER.sub("", _text(m["content"])).strip() for m in tool_messages]


def chat_answer(body: dict[str, Any], plain, tool_answer, run_command) -> dict[str, Any]:
    """The assistant message to give: `content`, or one `tool_calls` entry."""
    results = chat_tool_results(body)
    if results:
        return {"role": "assistant", "content": tool_answer("\n".join(results))}
    prompt = chat_prompt(body)
    command = run_command.search(prompt)
    names = {(t.get("function") or {}).get("name") for t in body.get("tools") or ()}
    if command and "Bash" in names:
        arguments = {"command": command.group(1), "description": "Run the requested command"}
        function = {"name": "Bash", "arguments": json.dumps(arguments)}
        call = {"id": CALL_ID, "type": "function", "function": function}
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    return {"role": "assistant", "content": plain(prompt)}


def _usage(body: dict[str, Any]) -> dict[str, int]:
    prompt = max(1, len(json.dumps(body["messages"])) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5}


def _finish(message: dict[str, Any]) -> str:
    return "tool_calls" if message.get("tool_calls") else "stop"


def whole_chat(body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    choice = {"index": 0, "message": message, "finish_reason": _finish(message)}
    return {
        "id": "chatcmpl-agent",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [choice],
        "usage": _usage(body),
    }


def _deltas(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The message in the pieces a server streams it in."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if message.get("content"):
        words = message["content"].split(" ")
        deltas += [{"content": w if i == 0 else " " + w} for i, w in enumerate(words)]
    for index, call in enumerate(message.get("tool_calls") or ()):
        opening = {"index": index, "id": call["id"], "type": "function"}
        opening["function"] = {"name": call["function"]["name"], "arguments": ""}
        deltas.append({"tool_calls": [opening]})
        arguments = call["function"]["arguments"]
        middle = len(arguments) // 2
        for piece in (arguments[:middle], arguments[middle:]):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return deltas


async def stream_chat(
    request: web.Request, body: dict[str, Any], message: dict[str, Any]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    base = {
        "id": "chatcmpl-agent",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
    }

    async def send(chunk: dict[str, Any]) -> None:
        await response.write(b"data: " + json.dumps({**base, **chunk}).encode() + b"\n\n")

    for delta in _deltas(message):
        await send({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    await send({"choices": [{"index": 0, "delta": {}, "finish_reason": _finish(message)}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        await send({"choices": [], "usage": _usage(body)})
    await response.write(b"data: [DONE]\n\n")
    return response
