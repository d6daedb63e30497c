"""A thinking model with tools, as DeepSeek's API serves it in thinking mode
(https://api-docs.deepseek.com/guides/thinking_mode): `reasoning_content` beside the answer,
whole or streamed, and a 400 for a conversation whose assistant tool-call turn since the last
user message comes back without its `reasoning_content`.

Asked a question, it thinks and calls the first tool it was given (arguments `{}`); given the
tool results, it thinks again and answers `results: <outputs>`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

THOUGHT = "I need a tool for this."
CALL_ID = "call_00_think"
USAGE = {
    "prompt_tokens": 30,
    "completion_tokens": 12,
    "total_tokens": 42,
    "completion_tokens_details": {"reasoning_tokens": 6},
}


def missing_reasoning(messages: list[dict[str, Any]]) -> int | None:
    """The index of a tool-call turn since the last user message that lacks its reasoning."""
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    since = users[-1] if users else 0
    for i, message in enumerate(messages[since:], since):
        called = message["role"] == "assistant" and message.get("tool_calls")
        if called and not message.get("reasoning_content"):
            return i
    return None


def _error(message: str) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return web.json_response({"error": error}, status=400)


def _message(body: dict[str, Any]) -> dict[str, Any]:
    results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if results:
        return {
            "role": "assistant",
            "reasoning_content": "The tool answered.",
            "content": "results: " + "; ".join(results),
        }
    function = body["tools"][0]["function"]["name"]
    call = {"id": CALL_ID, "type": "function", "function": {"name": function, "arguments": "{}"}}
    return {"role": "assistant", "reasoning_content": THOUGHT, "content": "", "tool_calls": [call]}


def _deltas(message: dict[str, Any]) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    reasoning = message["reasoning_content"]
    deltas += [{"reasoning_content": reasoning[i : i + 8]} for i in range(0, len(reasoning), 8)]
    if message["content"]:
        deltas.append({"content": message["content"]})
    for index, call in enumerate(message.get("tool_calls") or ()):
        head = {"name": call["function"]["name"], "arguments": ""}
        deltas.append({"tool_calls": [{"index": index, "id": call["id"], "function": head}]})
        arguments = {"arguments": call["function"]["arguments"]}
        deltas.append({"tool_calls": [{"index": index, "function": arguments}]})
    return deltas


async def thinking_tools(mock: Any, request: web.Request, body: dict[str, Any]):
    where = missing_reasoning(body["messages"])
    if where is not None:
        return _error(
            f"Missing `reasoning_content` field in the assistant message at message index "
            f"{where}. For more information, please refer to "
            "https://api-docs.deepseek.com/guides/thinking_mode#tool-calls"
        )
    message = _message(body)
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    base = {"id": "chatcmpl-think-tools", "created": int(time.time()), "model": body["model"]}
    if not body.get("stream"):
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        answer = {**base, "object": "chat.completion", "choices": [choice], "usage": USAGE}
        return web.json_response(answer)
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    chunk = {**base, "object": "chat.completion.chunk"}
    ends = [{"index": 0, "delta": {}, "finish_reason": finish}]
    choices = [[{"index": 0, "delta": d, "finish_reason": None}] for d in _deltas(message)]
    for frame in [*choices, ends]:
        await response.write(b"data: " + orjson.dumps({**chunk, "choices": frame}) + b"\n\n")
    last = {**chunk, "choices": [], "usage": USAGE}
    await response.write(b"data: " + orjson.dumps(last) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response
