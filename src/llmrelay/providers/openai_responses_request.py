"""The relay's request (OpenAI Chat's shape) as an OpenAI Responses request, for models that
OpenAI serves on `POST /v1/responses` only (a model's `api: responses`, docs/responses-upstream.md).

Field by field (https://platform.openai.com/docs/api-reference/responses/create):
- leading `system`/`developer` messages become `instructions`; every other message an input
  item: `tool_calls` become `function_call` items, `tool` messages `function_call_output` ones;
- tools go from Chat's nested shape to the flat one (`strict` kept, false when unset: the
  Responses API's default is true), `tool_choice` likewise;
- `response_format` becomes `text.format`, `verbosity` `text.verbosity`, `reasoning_effort`
  `reasoning.effort`, the answer's cap (`call.max_tokens`) `max_output_tokens`;
- `store` is always false: the relay keeps no upstream state.
A field with no Responses equivalent is a 400 naming it (dropped instead when the model sets
`drop_unsupported_params`).
"""

from __future__ import annotations

from typing import Any

from llmrelay.protocol.errors import RelayError, invalid_request, invalid_type
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.openai_reasoning import apply_reasoning

COPIED = (
    "temperature",
    "top_p",
    "user",
    "metadata",
    "parallel_tool_calls",
    "prompt_cache_key",
    "safety_identifier",
    "service_tier",
)
"""Fields with the same name and meaning in both APIs."""
TRANSLATED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
        "verbosity",
        "max_tokens",
        "max_completion_tokens",
    }
)
IGNORED = frozenset({"stream_options", "store"})
"""Read by the relay itself (usage is always asked for) or always set (`store: false`)."""
NEUTRAL = {"n": 1, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0}
"""Fields the Responses API lacks, harmless at these values."""
MIN_OUTPUT_TOKENS = 16
"""The Responses API refuses a smaller `max_output_tokens`."""


def unsupported(param: str) -> RelayError:
    return invalid_request(
        f"The model cannot take '{param}': it is served through OpenAI's Responses API, "
        "which has no such parameter.",
        param=param,
        code="unsupported_parameter",
    )


# ---- messages -> instructions + input items ------------------------------------------------


def _text_of(content: Any, where: str) -> str:
    """A message's content as one string (text parts joined)."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise invalid_type(where, "a string or an array of content parts", content)
    texts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
            raise unsupported(f"{where}[{i}]")
        texts.append(str(part.get("text") or part.get("refusal") or ""))
    return "".join(texts)


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise invalid_type(f"{where}.image_url.url", "a string", url)
    item = {"type": "input_image", "image_url": url, "detail": "auto"}
    if isinstance(image, dict) and image.get("detail") in ("low", "high", "auto"):
        item["detail"] = image["detail"]
    return item


def _file(part: dict[str, Any], where: str) -> dict[str, Any]:
    file = part.get("file") if isinstance(part.get("file"), dict) else {}
    item: dict[str, Any] = {"type": "input_file"}
    for name in ("file_data", "file_id", "filename"):
        if isinstance(file.get(name), str):
            item[name] = file[name]
    if "file_data" not in item and "file_id" not in item:
        raise invalid_request(f"Missing required parameter: '{where}.file.file_data'.", where)
    return item


def _user_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_type(where, "a string or an array of content parts", content)
    parts = []
    for i, part in enumerate(content):
        here = f"{where}[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "input_text", "text": str(part.get("text") or "")})
        elif kind == "image_url":
            parts.append(_image(part, here))
        elif kind == "file":
            parts.append(_file(part, here))
        else:
            raise unsupported(f"{here}.type")
    return parts


def _assistant_items(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text = _text_of(message.get("content"), f"{where}.content")
    if text:
        items.append({"type": "message", "role": "assistant", "content": text})
    for i, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise invalid_type(f"{where}.tool_calls[{i}].function", "an object", function)
        items.append(
            {
                "type": "function_call",
                "call_id": str(call.get("id") or ""),
                "name": str(function.get("name") or ""),
                "arguments": str(function.get("arguments") or ""),
            }
        )
    return items


def _item(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    role = message.get("role")
    if role in ("system", "developer"):
        text = _text_of(message.get("content"), f"{where}.content")
        return [{"type": "message", "role": "developer", "content": text}]
    if role == "user":
        content = _user_content(message.get("content"), f"{where}.content")
        return [{"type": "message", "role": "user", "content": content}]
    if role == "assistant":
        return _assistant_items(message, where)
    if role == "tool":
        output = _text_of(message.get("content"), f"{where}.content")
        call_id = str(message.get("tool_call_id") or "")
        return [{"type": "function_call_output", "call_id": call_id, "output": output}]
    raise unsupported(f"{where}.role")


def instructions_and_input(
    messages: list[dict[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """The leading system/developer messages as `instructions`; the rest as input items."""
    lead = 0
    while lead < len(messages) and messages[lead].get("role") in ("system", "developer"):
        lead += 1
    texts = [_text_of(messages[i].get("content"), f"messages[{i}].content") for i in range(lead)]
    instructions = "\n\n".join(text for text in texts if text) or None
    items: list[dict[str, Any]] = []
    for i in range(lead, len(messages)):
        items.extend(_item(messages[i], f"messages[{i}]"))
    return instructions, items


# ---- tools and settings ----------------------------------------------------------------------


def flat_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid_type("tools", "an array", tools)
    flat = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            raise unsupported(f"tools[{i}].type")
        entry = {"type": "function", "name": function.get("name"), "strict": False}
        for field in ("description", "parameters", "strict"):
            if function.get(field) is not None:
                entry[field] = function[field]
        flat.append(entry)
    return flat


def flat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function") or {}
        return {"type": "function", "name": function.get("name")}
    if choice in ("auto", "none", "required"):
        return choice
    raise unsupported("tool_choice")


def text_format(form: Any) -> dict[str, Any]:
    kind = form.get("type") if isinstance(form, dict) else None
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind != "json_schema":
        raise unsupported("response_format.type")
    schema = form.get("json_schema") if isinstance(form.get("json_schema"), dict) else {}
    flat = {"type": "json_schema", "name": schema.get("name") or "response"}
    for field in ("schema", "strict", "description"):
        if schema.get(field) is not None:
            flat[field] = schema[field]
    return flat


def _effort(call: UpstreamCall) -> str | None:
    body = dict(call.request.body)
    if call.reasoning_from_name and call.reasoning is not None:
        apply_reasoning(body, call.reasoning, "openai")
    effort = body.get("reasoning_effort")
    return effort if isinstance(effort, str) else None


def _settings(call: UpstreamCall, out: dict[str, Any]) -> None:
    body = call.request.body
    if body.get("tools"):
        out["tools"] = flat_tools(body["tools"])
    if body.get("tool_choice") is not None:
        out["tool_choice"] = flat_tool_choice(body["tool_choice"])
    text: dict[str, Any] = {}
    if body.get("response_format") is not None:
        text["format"] = text_format(body["response_format"])
    if body.get("verbosity") is not None:
        text["verbosity"] = body["verbosity"]
    if text:
        out["text"] = text
    effort = _effort(call)
    if effort is not None:
        out["reasoning"] = {"effort": effort}
    if call.max_tokens is not None:
        out["max_output_tokens"] = max(call.max_tokens, MIN_OUTPUT_TOKENS)


def _check_fields(call: UpstreamCall) -> None:
    if call.model.drop_unsupported_params:
        return
    for name, value in call.request.body.items():
        known = name in TRANSLATED or name in IGNORED or name in COPIED
        harmless = value is None or (name in NEUTRAL and value == NEUTRAL[name])
        if not known and not harmless:
            raise unsupported(name)


def responses_body(call: UpstreamCall, stream: bool) -> dict[str, Any]:
    """The Responses request for `call`, streamed or not."""
    _check_fields(call)
    body = call.request.body
    instructions, items = instructions_and_input(call.request.messages)
    out: dict[str, Any] = {"model": call.upstream_model, "input": items}
    if instructions is not None:
        out["instructions"] = instructions
    out.update({name: body[name] for name in COPIED if body.get(name) is not None})
    _settings(call, out)
    out["store"] = False
    if stream:
        out["stream"] = True
    return out
