"""OpenAI Chat Completions request -> Gemini `generateContent` body
(https://ai.google.dev/api/generate-content).

System and developer messages go to `systemInstruction`; user stays `user`, assistant becomes
`model`, and tool results become `functionResponse` parts of a user turn, named after the
earlier tool call they answer. Consecutive turns of one role are merged. Image URLs are
fetched with the SSRF-guarded ImageFetcher (Gemini's `fileData` takes no arbitrary https URL)
and inlined, all of them concurrently; that is why building the body is async.

Tool call ids the relay generated (`call_<24 hex>`) are not sent back to Gemini; ids Gemini
gave are. Thought signatures come back from `extra_content.google.thought_signature`.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmrelay.config import ModelConfig
from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.gemini_response import read_signature
from llmrelay.providers.images import ImageFetcher, parse_data_uri

GENERATED_CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
FILE_URI_PREFIXES = ("gs://", "https://generativelanguage.googleapis.com/")
TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
PASS_THROUGH = {"safety_settings": "safetySettings", "cached_content": "cachedContent"}


def unsupported(param: str, why: str) -> RelayError:
    return invalid_request(
        f"Unsupported parameter: '{param}' is not supported with this model ({why}).",
        param=param,
        code="unsupported_parameter",
    )


def _missing(param: str) -> RelayError:
    return invalid_request(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _invalid(param: str, why: str) -> RelayError:
    return invalid_request(f"Invalid '{param}': {why}.", param=param, code="invalid_value")


# ---- parameters Gemini cannot honour --------------------------------------------------------


def _unsupported_params(body: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    if body.get("logit_bias"):
        found.append(("logit_bias", "Gemini has no token biasing"))
    if body.get("parallel_tool_calls") is False:
        found.append(("parallel_tool_calls", "Gemini cannot be held to one tool call"))
    for name in ("functions", "function_call", "prediction", "audio", "web_search_options"):
        if body.get(name) is not None:
            found.append((name, "Gemini has no equivalent"))
    modalities = body.get("modalities")
    if isinstance(modalities, list) and any(m != "text" for m in modalities):
        found.append(("modalities", "only text output is relayed"))
    tools = body.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else ()):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            found.append((f"tools[{i}].type", "only function tools are supported"))
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") != "function":
        found.append(("tool_choice", "only auto, none, required or one named function"))
    return found


def check_params(body: dict[str, Any], model: ModelConfig) -> None:
    """400 `unsupported_parameter` naming the first one, unless the model drops them."""
    found = _unsupported_params(body)
    if found and not model.drop_unsupported_params:
        raise unsupported(*found[0])


# ---- messages -> contents -------------------------------------------------------------------


@dataclass(slots=True)
class _Conversation:
    system: list[dict[str, Any]] = field(default_factory=list)
    contents: list[dict[str, Any]] = field(default_factory=list)
    call_names: dict[str, str] = field(default_factory=dict)
    """tool_call_id -> function name, from the assistant messages seen so far."""
    downloads: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)
    """(part to fill with inlineData, url, param) for each image URL."""

    def add(self, role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content] if content else []
    texts = []
    for part in content if isinstance(content, list) else ():
        text = part.get("text") if part.get("type") == "text" else part.get("refusal")
        if isinstance(text, str) and text:
            texts.append(text)
    return texts


def _inline(media_type: str, data: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": media_type, "data": data}}


def _image_part(conv: _Conversation, url: str, param: str) -> dict[str, Any]:
    if url.startswith("data:"):
        image = parse_data_uri(url, param)
        return _inline(image.media_type, image.data)
    if url.startswith(FILE_URI_PREFIXES):
        file_data = {"fileUri": url}
        guessed = mimetypes.guess_type(url)[0]
        if guessed:
            file_data["mimeType"] = guessed
        return {"fileData": file_data}
    part: dict[str, Any] = {}
    conv.downloads.append((part, url, param))
    return part


def _audio_part(audio: Any, param: str) -> dict[str, Any]:
    audio = audio if isinstance(audio, dict) else {}
    data, fmt = audio.get("data"), audio.get("format")
    if not isinstance(data, str) or not data or fmt not in AUDIO_TYPES:
        raise _invalid(param, "expected {data: <base64>, format: 'wav' | 'mp3'}")
    return _inline(AUDIO_TYPES[fmt], data)


def _file_part(file: Any, param: str) -> dict[str, Any]:
    file = file if isinstance(file, dict) else {}
    data = file.get("file_data")
    if isinstance(data, str) and data.startswith("data:"):
        inline = parse_data_uri(data, f"{param}.file_data")
        return _inline(inline.media_type, inline.data)
    if isinstance(data, str) and data:
        filename = file.get("filename")
        guessed = mimetypes.guess_type(filename)[0] if isinstance(filename, str) else None
        return _inline(guessed or "application/pdf", data)
    if file.get("file_id") is not None:
        raise unsupported(f"{param}.file_id", "Gemini cannot read OpenAI file ids")
    raise _missing(f"{param}.file_data")


def _user_parts(conv: _Conversation, content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for j, part in enumerate(content):
        where, kind = f"{param}[{j}]", part.get("type")
        if kind == "text" and part["text"]:
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(_image_part(conv, part["image_url"]["url"], f"{where}.image_url.url"))
        elif kind == "input_audio":
            parts.append(_audio_part(part.get("input_audio"), f"{where}.input_audio"))
        elif kind == "file":
            parts.append(_file_part(part.get("file"), f"{where}.file"))
    return parts


def _arguments(value: Any, param: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = orjson.loads(value) if isinstance(value, str) else None
    except orjson.JSONDecodeError:
        raise _invalid(param, "the arguments are not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _invalid(param, "the arguments must be a JSON object")
    return parsed


def _function_call(conv: _Conversation, call: Any, param: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise _missing(f"{param}.function.name")
    args = _arguments(function.get("arguments"), f"{param}.function.arguments")
    function_call: dict[str, Any] = {"name": name, "args": args}
    call_id = call.get("id")
    if isinstance(call_id, str) and call_id:
        conv.call_names[call_id] = name
        if not GENERATED_CALL_ID.match(call_id):
            function_call["id"] = call_id
    part: dict[str, Any] = {"functionCall": function_call}
    signature = read_signature(call)
    if signature:
        part["thoughtSignature"] = signature
    return part


def _assistant_parts(
    conv: _Conversation, message: dict[str, Any], param: str
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": text} for text in _texts(message.get("content"))]
    signature = read_signature(message)
    if signature and parts:
        parts[-1]["thoughtSignature"] = signature
    calls = message.get("tool_calls")
    for k, call in enumerate(calls if isinstance(calls, list) else ()):
        parts.append(_function_call(conv, call, f"{param}.tool_calls[{k}]"))
    return parts


def _function_response(conv: _Conversation, message: dict[str, Any], param: str) -> dict:
    call_id = message["tool_call_id"]
    name = conv.call_names.get(call_id)
    if name is None:
        raise _invalid(
            f"{param}.tool_call_id",
            f"no earlier assistant message has a tool call with id {call_id!r}",
        )
    response: dict[str, Any] = {
        "name": name,
        "response": {"content": "".join(_texts(message.get("content")))},
    }
    if not GENERATED_CALL_ID.match(call_id):
        response["id"] = call_id
    return {"functionResponse": response}


def _legacy_function_result(message: dict[str, Any], param: str) -> dict[str, Any]:
    name = message.get("name")
    if not isinstance(name, str) or not name:
        raise _missing(f"{param}.name")
    content = "".join(_texts(message.get("content")))
    return {"functionResponse": {"name": name, "response": {"content": content}}}


async def _download(downloads: list[tuple[dict, str, str]], images: ImageFetcher) -> None:
    """Fetch every image URL at once; the first refusal cancels the rest and is raised."""
    if not downloads:
        return
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(images.fetch(url, param)) for _, url, param in downloads]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    for (part, _, _), task in zip(downloads, tasks, strict=True):
        image = task.result()
        part.update(_inline(image.media_type, image.data))


async def build_contents(
    messages: list[dict[str, Any]], images: ImageFetcher
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(systemInstruction or None, contents) for the request's validated messages."""
    conv = _Conversation()
    for i, message in enumerate(messages):
        role, param = message["role"], f"messages[{i}]"
        if role in ("system", "developer"):
            conv.system.extend({"text": text} for text in _texts(message["content"]))
        elif role == "user":
            conv.add("user", _user_parts(conv, message["content"], f"{param}.content"))
        elif role == "assistant":
            conv.add("model", _assistant_parts(conv, message, param))
        elif role == "tool":
            conv.add("user", [_function_response(conv, message, param)])
        else:
            conv.add("user", [_legacy_function_result(message, param)])
    await _download(conv.downloads, images)
    if not conv.contents and conv.system:
        return None, [{"role": "user", "parts": conv.system}]
    if not conv.contents:
        raise _invalid("messages", "there is no text or media to send")
    return ({"parts": conv.system} if conv.system else None), conv.contents


# ---- tools ----------------------------------------------------------------------------------


def _declaration(function: Any, param: str) -> dict[str, Any]:
    function = function if isinstance(function, dict) else {}
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise _missing(f"{param}.name")
    declaration: dict[str, Any] = {"name": name}
    if isinstance(function.get("description"), str) and function["description"]:
        declaration["description"] = function["description"]
    if isinstance(function.get("parameters"), dict) and function["parameters"]:
        declaration["parametersJsonSchema"] = function["parameters"]
    return declaration


def build_tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise invalid_request(
            "Invalid type for 'tools': expected an array.", param="tools", code="invalid_type"
        )
    declarations = [
        _declaration(tool.get("function"), f"tools[{i}].function")
        for i, tool in enumerate(tools)
        if isinstance(tool, dict) and tool.get("type") == "function"
    ]
    return [{"functionDeclarations": declarations}] if declarations else None


def build_tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in TOOL_CHOICE_MODES:
            raise _invalid("tool_choice", "expected 'auto', 'none', 'required' or a function")
        return {"functionCallingConfig": {"mode": TOOL_CHOICE_MODES[choice]}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise _missing("tool_choice.function.name")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    if isinstance(choice, dict):
        return None  # another kind of choice: refused by check_params unless dropped
    raise invalid_request(
        "Invalid type for 'tool_choice': expected a string or an object.",
        param="tool_choice",
        code="invalid_type",
    )


# ---- generationConfig -----------------------------------------------------------------------


def _number(body: dict[str, Any], name: str) -> float | int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_request(
            f"Invalid type for '{name}': expected a number.", param=name, code="invalid_type"
        )
    return value


def _response_format(value: Any, config: dict[str, Any]) -> None:
    if value is None:
        return
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return
    if kind not in ("json_object", "json_schema"):
        raise _invalid("response_format.type", "expected 'text', 'json_object' or 'json_schema'")
    config["responseMimeType"] = "application/json"
    spec = value.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if kind == "json_schema" and isinstance(schema, dict):
        config["responseJsonSchema"] = schema


def thinking_config(call: UpstreamCall) -> dict[str, Any] | None:
    """The reasoning intent as `thinkingConfig`; None leaves the model's own default."""
    intent = call.reasoning
    if intent is None:
        return None
    if not intent.enabled:
        return {"thinkingBudget": 0, "includeThoughts": False}
    budget = intent.budget_from(call.model.reasoning_budgets)
    return {"thinkingBudget": budget, "includeThoughts": True}


def generation_config(call: UpstreamCall) -> dict[str, Any]:
    request, body = call.request, call.request.body
    config: dict[str, Any] = {}
    max_tokens = call.max_tokens or call.model.max_tokens_default
    fields = {
        "maxOutputTokens": max_tokens,
        "temperature": request.temperature,
        "topP": request.top_p,
        "topK": _number(body, "top_k"),
        "candidateCount": request.n if request.n > 1 else None,
        "seed": _number(body, "seed"),
        "presencePenalty": _number(body, "presence_penalty"),
        "frequencyPenalty": _number(body, "frequency_penalty"),
        "stopSequences": [stop for stop in request.stop if stop] or None,
    }
    config.update({key: value for key, value in fields.items() if value is not None})
    if body.get("logprobs") is True:
        config["responseLogprobs"] = True
        top = body.get("top_logprobs")
        if isinstance(top, int) and not isinstance(top, bool) and top > 0:
            config["logprobs"] = top
    _response_format(body.get("response_format"), config)
    thinking = thinking_config(call)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


async def build_body(call: UpstreamCall, images: ImageFetcher) -> dict[str, Any]:
    """The whole `generateContent` request body for this call."""
    body = call.request.body
    check_params(body, call.model)
    system, contents = await build_contents(call.request.messages, images)
    payload: dict[str, Any] = {"contents": contents}
    if system is not None:
        payload["systemInstruction"] = system
    tools = build_tools(body)
    if tools is not None:
        payload["tools"] = tools
        tool_config = build_tool_config(body.get("tool_choice"))
        if tool_config is not None:
            payload["toolConfig"] = tool_config
    config = generation_config(call)
    if config:
        payload["generationConfig"] = config
    for name, wire_name in PASS_THROUGH.items():
        if body.get(name) is not None:
            payload[wire_name] = body[name]
    return payload
