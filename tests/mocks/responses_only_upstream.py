"""An OpenAI upstream that serves a model on the Responses API only (as OpenAI does
`gpt-5-pro`): `POST /v1/responses`, whole and streamed, in the vendor's wire format
(https://platform.openai.com/docs/api-reference/responses/object,
https://platform.openai.com/docs/api-reference/responses-streaming); any other path is 404.

Answers follow the agent mock's script (agent_upstream: tool calls for "run `...`", the
tool's output quoted back), and two prompts of their own:
- `think: ...` puts a reasoning item with a summary before the answer, and usage reports
  cached input and reasoning tokens;
- `fail: ...` is refused: a 400 `invalid_request_error` whole, a `response.failed` event
  streamed;
- `cut: ...` ends `incomplete` (`max_output_tokens`), streamed with `response.incomplete`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.mocks.agent_upstream import MockAgentModel, responses_output
from tests.mocks.openai_responses_stream import response_events, whole_response

THINK = "think:"
FAIL = "fail:"
CUT = "cut:"
INCOMPLETE = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
SUMMARY = "The user wants a short answer, so keep it short."
CACHED_TOKENS = 8
REASONING_TOKENS = 21
FAILURE = {"code": "server_error", "message": "The mock model failed to answer."}
REFUSAL = {
    "message": "Invalid 'input': the mock refuses this prompt.",
    "type": "invalid_request_error",
    "param": "input",
    "code": "invalid_value",
}


def _prompt(body: dict[str, Any]) -> str:
    items = body.get("input")
    if isinstance(items, str):
        return items
    users = [i for i in items or [] if i.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content)
    return content or ""


def reasoning_item() -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": SUMMARY}]
    return {"type": "reasoning", "id": "rs_mock000001", "summary": summary}


def thinking_usage(usage: dict[str, Any]) -> dict[str, Any]:
    output = usage["output_tokens"] + REASONING_TOKENS
    return {
        **usage,
        "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        "total_tokens": usage["input_tokens"] + output,
    }


def _reasoning_events(item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    at = {"item_id": item["id"], "output_index": 0, "summary_index": 0}
    pieces = [SUMMARY[i : i + 10] for i in range(0, len(SUMMARY), 10)]
    part = {"type": "summary_text", "text": SUMMARY}
    return [
        ("response.output_item.added", {"output_index": 0, "item": {**item, "summary": []}}),
        ("response.reasoning_summary_part.added", {**at, "part": {**part, "text": ""}}),
        *[("response.reasoning_summary_text.delta", {**at, "delta": p}) for p in pieces],
        ("response.reasoning_summary_text.done", {**at, "text": SUMMARY}),
        ("response.reasoning_summary_part.done", {**at, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
    ]


def thinking_events(body: dict[str, Any], output: list[dict[str, Any]]) -> list[tuple]:
    """The events of a response whose output is a reasoning item, then `output`."""
    events = response_events(body, output)
    for _, data in events:
        if "output_index" in data:
            data["output_index"] += 1
    reasoning = reasoning_item()
    events[2:2] = _reasoning_events(reasoning)
    final = events[-1][1]["response"]
    final["output"] = [reasoning, *output]
    final["usage"] = thinking_usage(final["usage"])
    return events


def cut_events(body: dict[str, Any], output: list[dict[str, Any]]) -> list[tuple]:
    events = response_events(body, output)
    _, last = events[-1]
    events[-1] = ("response.incomplete", {"response": {**last["response"], **INCOMPLETE}})
    return events


def failing_events(body: dict[str, Any]) -> list[tuple]:
    events = response_events(body, [])[:2]
    failed = {**events[0][1]["response"], "status": "failed", "error": FAILURE}
    return [*events, ("response.failed", {"response": failed})]


@dataclass
class MockResponsesOnly(MockAgentModel):
    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._record_unrouted)
        app.router.add_post("/v1/responses", self._responses)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = (await self._record(request)).body
        prompt = _prompt(body)
        output = responses_output(body)
        stream = bool(body.get("stream"))
        if prompt.startswith(FAIL):
            if not stream:
                return web.json_response({"error": REFUSAL}, status=400)
            return await _stream(request, failing_events(body))
        if prompt.startswith(CUT):
            if not stream:
                return web.json_response({**whole_response(body, output), **INCOMPLETE})
            return await _stream(request, cut_events(body, output))
        if not prompt.startswith(THINK):
            if not stream:
                return web.json_response(whole_response(body, output))
            return await _stream(request, response_events(body, output))
        if stream:
            return await _stream(request, thinking_events(body, output))
        whole = whole_response(body, [reasoning_item(), *output])
        return web.json_response({**whole, "usage": thinking_usage(whole["usage"])})


async def _stream(request: web.Request, events: list[tuple]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for number, (name, data) in enumerate(events):
        payload = {"type": name, "sequence_number": number, **data}
        await response.write(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())
    await response.write_eof()
    return response
