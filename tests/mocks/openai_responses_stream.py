"""OpenAI Responses output items and their SSE stream, in the vendor's exact wire format
(https://platform.openai.com/docs/api-reference/responses/object and
https://platform.openai.com/docs/api-reference/responses-streaming).

The stream is `response.created`, `response.in_progress`, then for each output item
`response.output_item.added`, its deltas (`response.content_part.added`,
`response.output_text.delta`/`.done`, `response.content_part.done` for a message;
`response.function_call_arguments.delta`/`.done` for a function call) and
`response.output_item.done`, and last `response.completed` with the whole response and usage.
Every event carries its `type` and a `sequence_number`.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from aiohttp import web

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_mock{next(_ids):06d}"


def message_item(text: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": []}
    return {
        "type": "message",
        "id": _id("msg"),
        "role": "assistant",
        "status": "completed",
        "content": [part],
    }


def function_call_item(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": _id("fc"),
        "call_id": _id("call"),
        "name": name,
        "arguments": json.dumps(arguments),
        "status": "completed",
    }


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def usage_of(body: dict[str, Any], output: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = max(1, len(json.dumps(body.get("input"))) // 4)
    completion = max(1, len(json.dumps(output)) // 4)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def response_object(body: dict[str, Any], output: list[dict[str, Any]], status: str) -> dict:
    return {
        "id": _id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": body.get("model"),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "usage": None,
    }


def whole_response(body: dict[str, Any], output: list[dict[str, Any]]) -> dict[str, Any]:
    """The response object a request without `stream` gets."""
    return {**response_object(body, output, "completed"), "usage": usage_of(body, output)}


def _item_events(index: int, item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events between `output_item.added` and `output_item.done` for one item."""
    where = {"item_id": item["id"], "output_index": index}
    if item["type"] == "function_call":
        deltas = [
            ("response.function_call_arguments.delta", {**where, "delta": piece})
            for piece in _pieces(item["arguments"])
        ]
        done = {**where, "arguments": item["arguments"]}
        return [*deltas, ("response.function_call_arguments.done", done)]
    part = item["content"][0]
    at = {**where, "content_index": 0}
    events = [("response.content_part.added", {**at, "part": {**part, "text": ""}})]
    events += [
        ("response.output_text.delta", {**at, "delta": piece, "logprobs": []})
        for piece in _pieces(part["text"])
    ]
    events.append(("response.output_text.done", {**at, "text": part["text"], "logprobs": []}))
    events.append(("response.content_part.done", {**at, "part": part}))
    return events


def response_events(
    body: dict[str, Any], output: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """Every event of one streamed response whose output is `output`, in order."""
    started = response_object(body, [], "in_progress")
    events = [("response.created", {"response": started})]
    events.append(("response.in_progress", {"response": started}))
    for index, item in enumerate(output):
        opened = {**item, "status": "in_progress"}
        if item["type"] == "message":
            opened["content"] = []
        else:
            opened["arguments"] = ""
        events.append(("response.output_item.added", {"output_index": index, "item": opened}))
        events += _item_events(index, item)
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    finished = {**started, "status": "completed", "output": output}
    finished["usage"] = usage_of(body, output)
    events.append(("response.completed", {"response": finished}))
    return events


async def stream_response(
    request: web.Request, body: dict[str, Any], output: list[dict[str, Any]]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for number, (name, data) in enumerate(response_events(body, output)):
        payload = {"type": name, "sequence_number": number, **data}
        await response.write(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())
    await response.write_eof()
    return response
