"""OpenAI Chat Completions request -> Anthropic Messages request
(https://docs.anthropic.com/en/api/messages; the OpenAI side:
https://platform.openai.com/docs/api-reference/chat/create).

Pure functions, no I/O. Anything Anthropic cannot express is either a 400 that names the
parameter or, when the model's config says `drop_unsupported_params`, silently dropped.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.images import parse_data_uri

JSON_TOOL = "json_tool_call"
PLACEHOLDER = "..."
DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
UNSUPPORTED = ("n", "seed", "logprobs", "top_logprobs", "logit_bias")
UNSUPPORTED += ("presence_penalty", "frequency_penalty")
EFFORT_ALIASES = {"xhigh": "high", "max": "high"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


@dataclass(slots=True)
class AnthropicRequest:
    body: dict[str, Any]
    json_mode: bool
    """The client asked for JSON: the `json_tool_call` input comes back as the content."""


def build_request(call: UpstreamCall, stream: bool) -> AnthropicRequest:
    """The Messages API body for `call`; RelayError(400) for what cannot be translated."""
    request = call.request
    body = request.body
    check_unsupported(body, call.model.drop_unsupported_params)
    system, rest = split_system(request.messages)
    out: dict[str, Any] = {
        "model": call.upstream_model,
        "max_tokens": call.max_tokens or call.model.max_tokens_default or DEFAULT_MAX_TOKENS,
        "messages": convert_messages(rest, call.model.vision),
    }
    if system:
        out["system"] = system
    out.update(sampling(request.temperature, request.top_p, request.stop, body.get("top_k")))
    user_id = metadata_user_id(body.get("user") or body.get("safety_identifier"))
    if user_id:
        out["metadata"] = {"user_id": user_id}
    thinking = thinking_config(call)
    if thinking is not None and not _tool_loop_keeps_thinking(out["messages"]):
        thinking = None
    json_schema = json_output_schema(body.get("response_format"))
    add_tools(out, body, json_schema, forced_allowed=thinking is None)
    if thinking is not None:
        apply_thinking(out, thinking)
    if stream:
        out["stream"] = True
    return AnthropicRequest(out, json_schema is not None)


# ---- parameters ------------------------------------------------------------------------


def _bad(message: str, param: str, code: str = "invalid_value") -> RelayError:
    return invalid_request(message, param=param, code=code)


def _unsupported(param: str) -> RelayError:
    message = f"Unsupported parameter: '{param}' is not supported with this model."
    return _bad(message, param, "unsupported_parameter")


def _is_set(name: str, value: Any) -> bool:
    if name == "n":
        return isinstance(value, int) and value > 1
    if name == "seed":
        return value is not None
    return value not in (None, False, 0, {})


def check_unsupported(body: dict[str, Any], drop: bool) -> None:
    """400 for the first parameter Anthropic cannot honour, unless the model drops them."""
    if drop:
        return
    for name in UNSUPPORTED:
        if _is_set(name, body.get(name)):
            raise _unsupported(name)


def sampling(
    temperature: float | None, top_p: float | None, stop: list[str], top_k: Any
) -> dict[str, Any]:
    """Temperature above Anthropic's maximum of 1 is clamped to 1; blank stops are dropped."""
    out: dict[str, Any] = {}
    if temperature is not None:
        out["temperature"] = min(temperature, 1.0)
    if top_p is not None:
        out["top_p"] = top_p
    if isinstance(top_k, int) and not isinstance(top_k, bool) and top_k > 0:
        out["top_k"] = top_k
    sequences = [s for s in stop if s.strip()]
    if sequences:
        out["stop_sequences"] = sequences
    return out


def metadata_user_id(user: Any) -> str | None:
    """`user` as Anthropic's opaque id, never when it looks like an email or a phone number."""
    if not isinstance(user, str) or not user.strip():
        return None
    if _EMAIL.match(user) or _PHONE.match(user):
        return None
    return user


# ---- reasoning --------------------------------------------------------------------------


def _budget(intent: ReasoningIntent, call: UpstreamCall) -> int:
    if intent.effort in EFFORT_ALIASES:
        intent = dataclasses.replace(intent, effort=EFFORT_ALIASES[intent.effort])
    return intent.budget_from(call.model.reasoning_budgets)


def thinking_config(call: UpstreamCall) -> dict[str, Any] | None:
    """The `thinking` object for the effective intent; None when off or the model can't."""
    intent = call.reasoning
    if intent is None or not intent.enabled or not call.model.reasoning:
        return None
    native = call.request.body.get("thinking")
    if call.reasoning_from_name or not isinstance(native, dict):
        native = {}
    if native.get("type") == "adaptive":
        return dict(native)
    budget = native.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        budget = _budget(intent, call)
    if budget <= 0:
        return None
    return {**native, "type": "enabled", "budget_tokens": max(MIN_THINKING_BUDGET, budget)}


def apply_thinking(out: dict[str, Any], thinking: dict[str, Any]) -> None:
    """Anthropic's rules while thinking: budget < max_tokens, temperature 1, no top_p/top_k,
    no forced tool choice. A `max_tokens` at or below the budget becomes budget + max_tokens,
    so the answer still gets the room the client (or the default) asked for."""
    out["thinking"] = thinking
    budget = thinking.get("budget_tokens")
    if isinstance(budget, int) and out["max_tokens"] <= budget:
        out["max_tokens"] = budget + out["max_tokens"]
    out["temperature"] = 1.0
    out.pop("top_p", None)
    out.pop("top_k", None)
    choice = out.get("tool_choice")
    if choice and choice["type"] in ("any", "tool"):
        out["tool_choice"] = {k: v for k, v in choice.items() if k != "name"} | {"type": "auto"}


def _tool_loop_keeps_thinking(turns: list[dict[str, Any]]) -> bool:
    """With thinking on, an assistant tool-use turn must start with its thinking block.
    Clients that did not keep the blocks cannot satisfy that: think no more in that loop."""
    for turn in reversed(turns):
        if turn["role"] != "assistant":
            continue
        blocks = turn["content"]
        if not any(b.get("type") == "tool_use" for b in blocks):
            return True
        return blocks[0].get("type") in ("thinking", "redacted_thinking")
    return True


# ---- tools and JSON output -------------------------------------------------------------


def json_output_schema(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else {"type": "object"}


def convert_tool(tool: Any, index: int) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _bad(
            "Only function tools with a name are supported with this model.", f"tools[{index}]"
        )
    converted: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        converted["description"] = function["description"]
    parameters = function.get("parameters")
    converted["input_schema"] = (
        parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
    )
    return converted


def convert_tool_choice(value: Any, parallel: Any) -> dict[str, Any] | None:
    if value is None and parallel is not False:
        return None
    if value is None or value == "auto":
        choice: dict[str, Any] = {"type": "auto"}
    elif value in ("none", "required"):
        choice = {"type": "none" if value == "none" else "any"}
    elif isinstance(value, dict) and isinstance((value.get("function") or {}).get("name"), str):
        choice = {"type": "tool", "name": value["function"]["name"]}
    else:
        what = "Invalid 'tool_choice': expected 'none', 'auto', 'required' or a named function."
        raise _bad(what, "tool_choice")
    if parallel is False and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = True
    return choice


def add_tools(
    out: dict[str, Any],
    body: dict[str, Any],
    json_schema: dict[str, Any] | None,
    forced_allowed: bool,
) -> None:
    """`tools` and `tool_choice`; JSON output is a forced `json_tool_call` (auto if thinking)."""
    raw = body.get("tools")
    tools = [convert_tool(t, i) for i, t in enumerate(raw)] if isinstance(raw, list) else []
    choice = convert_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if json_schema is not None:
        tools.append(
            {
                "name": JSON_TOOL,
                "description": "Respond with a JSON object that is the answer.",
                "input_schema": json_schema,
            }
        )
        choice = {"type": "tool", "name": JSON_TOOL} if forced_allowed else {"type": "auto"}
    if not tools:
        return
    out["tools"] = tools
    if choice is not None:
        out["tool_choice"] = choice


# ---- messages --------------------------------------------------------------------------


def _text_block(part: dict[str, Any]) -> dict[str, Any] | None:
    text = part.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    block: dict[str, Any] = {"type": "text", "text": text}
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _texts(content: Any) -> list[dict[str, Any]]:
    """Text blocks of a string or of text/refusal parts; blank text yields nothing."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks = []
    for part in content or ():
        if part.get("type") == "refusal":
            part = {"type": "text", "text": part.get("refusal")}
        block = _text_block(part)
        if block is not None:
            blocks.append(block)
    return blocks


def split_system(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[tuple[int, dict[str, Any]]]]:
    """System and developer messages, in order, as system blocks; the rest with their index."""
    system: list[dict[str, Any]] = []
    rest: list[tuple[int, dict[str, Any]]] = []
    for index, message in enumerate(messages):
        if message.get("role") in ("system", "developer"):
            system.extend(_texts(message.get("content")))
        else:
            rest.append((index, message))
    return system, rest


def image_block(url: str, param: str) -> dict[str, Any]:
    if url.startswith("data:"):
        image = parse_data_uri(url, param)
        source = {"type": "base64", "media_type": image.media_type, "data": image.data}
        return {"type": "image", "source": source}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise _bad("Image URLs must be http(s) URLs or base64 data URIs.", param, "invalid_image_url")


def _document_block(part: dict[str, Any], param: str) -> dict[str, Any]:
    data = (part.get("file") or {}).get("file_data")
    if not isinstance(data, str) or not data:
        what = "Only inline PDF files ('file.file_data') are supported with this model."
        raise _bad(what, f"{param}.file", "unsupported_content")
    if data.startswith("data:"):
        data = parse_data_uri(data, f"{param}.file.file_data").data
    source = {"type": "base64", "media_type": "application/pdf", "data": data}
    return {"type": "document", "source": source}


def user_blocks(content: Any, param: str, vision: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return _texts(content)
    blocks = []
    for i, part in enumerate(content):
        where = f"{param}.content[{i}]"
        kind = part.get("type")
        if kind == "text":
            block = _text_block(part)
            blocks.extend([block] if block else [])
        elif kind == "image_url" and vision:
            blocks.append(image_block(part["image_url"]["url"], f"{where}.image_url.url"))
        elif kind == "file":
            blocks.append(_document_block(part, where))
        else:
            what = "images" if kind == "image_url" else f"'{kind}' content"
            raise _bad(f"This model does not accept {what}.", where, "unsupported_content")
    return blocks


def _thinking_blocks(value: Any) -> list[dict[str, Any]]:
    """Thinking blocks a client kept from an earlier answer, exactly as Anthropic sent them."""
    blocks = []
    for block in value if isinstance(value, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking" and isinstance(block.get("signature"), str):
            thinking = block.get("thinking") or ""
            signature = block["signature"]
            blocks.append({"type": "thinking", "thinking": thinking, "signature": signature})
        elif block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
            blocks.append({"type": "redacted_thinking", "data": block["data"]})
    return blocks


def _tool_use(call: Any, param: str) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments") or ""
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except (json.JSONDecodeError, AttributeError):
        parsed = None
    if not isinstance(parsed, dict):
        what = "The tool call's arguments must be a JSON object."
        raise _bad(what, f"{param}.function.arguments")
    return {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": parsed}


def assistant_blocks(message: dict[str, Any], param: str) -> list[dict[str, Any]]:
    blocks = _thinking_blocks(message.get("thinking_blocks"))
    blocks.extend(_texts(message.get("content")))
    for i, call in enumerate(message.get("tool_calls") or ()):
        blocks.append(_tool_use(call, f"{param}.tool_calls[{i}]"))
    return blocks


def tool_result_block(message: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        texts = _texts(content)
        if texts:
            block["content"] = texts
    return block


def _blocks(message: dict[str, Any], index: int, vision: bool) -> tuple[str, list[dict]]:
    role = message["role"]
    param = f"messages[{index}]"
    if role == "user":
        return "user", user_blocks(message["content"], param, vision)
    if role == "assistant":
        return "assistant", assistant_blocks(message, param)
    if role == "tool":
        return "user", [tool_result_block(message)]
    raise _bad(f"Messages with role '{role}' are not supported; use tools.", f"{param}.role")


def convert_messages(messages: list[tuple[int, dict[str, Any]]], vision: bool) -> list[dict]:
    """Alternating user/assistant turns: same roles merged, tool results in user turns, a
    user turn first, a placeholder for empty turns, no trailing whitespace in a prefill."""
    turns: list[dict[str, Any]] = []
    for index, message in messages:
        role, blocks = _blocks(message, index, vision)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": []})
    for turn in turns:
        if not turn["content"]:
            turn["content"] = [{"type": "text", "text": PLACEHOLDER}]
    last = turns[-1]
    if last["role"] == "assistant" and last["content"][-1]["type"] == "text":
        last["content"][-1]["text"] = last["content"][-1]["text"].rstrip() or PLACEHOLDER
    return turns
