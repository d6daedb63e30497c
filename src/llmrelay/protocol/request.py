"""The incoming Chat Completions request: read the few fields the relay needs, check them the
way OpenAI does, and keep the parsed body to forward everything else untouched.

No validation model is built per request: plain dict reads and type checks are an order of
magnitude cheaper, and unknown fields pass through without the relay having to know them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmrelay.protocol.errors import invalid_request
from llmrelay.protocol.errors import invalid_type as _invalid_type
from llmrelay.protocol.json_body import parse_json_object
from llmrelay.protocol.reasoning import ReasoningIntent, intent_from_body
from llmrelay.protocol.tools import check_tool_calls, check_tools

MESSAGE_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
TEXT_ONLY_ROLES = ("system", "developer")
USER_PART_TYPES = ("text", "image_url", "input_audio", "file")
MAX_STOP_SEQUENCES = 4


@dataclass(slots=True)
class ChatRequest:
    """A validated request. `body` is the client's JSON object, unchanged."""

    body: dict[str, Any]
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    stop: list[str]
    reasoning: ReasoningIntent | None = None
    reasoning_translated: bool = False
    """The intent came in another protocol's words (Anthropic's `thinking`, Responses'
    `reasoning`) and is not in `body`: each provider writes it in its upstream's own spelling,
    and only for a model configured `reasoning: true` (others would refuse it)."""
    produces_output: bool = True
    """False for an operation that bills its input only (embeddings): no output tokens are
    reserved nor capped."""
    prompt_token_ids: int = 0
    """Prompt tokens sent as token ids rather than text (counted as they are)."""
    output_copies: int = 1
    """How many times over each of the `n` choices is generated (legacy completions: once
    per prompt of a prompt array, and `best_of` candidates)."""

    @property
    def n(self) -> int:
        n = self.body.get("n")
        return n if isinstance(n, int) and not isinstance(n, bool) else 1


def number_in(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid_type(name, "a number", value)
    if not low <= value <= high:
        raise invalid_request(
            f"Invalid '{name}': {value} is out of range. Expected a value between "
            f"{low:g} and {high:g}.",
            param=name,
            code="invalid_value",
        )
    return float(value)


def positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid_type(name, "an integer", value)
    if value < 1:
        raise invalid_request(
            f"Invalid '{name}': integer below minimum value. Expected a value >= 1, "
            f"but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return value


def stop_sequences(body: dict[str, Any]) -> list[str]:
    value = body.get("stop")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _invalid_type("stop", "a string or an array of strings", value)
    if len(value) > MAX_STOP_SEQUENCES:
        raise invalid_request(
            f"Invalid 'stop': array too long. Expected an array with maximum length "
            f"{MAX_STOP_SEQUENCES}, but got an array with length {len(value)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    return value


def _check_parts(content: list[Any], param: str, allowed: tuple[str, ...]) -> None:
    if not content:
        raise invalid_request(
            f"Invalid '{param}': empty array. Expected an array with minimum length 1.",
            param=param,
            code="empty_array",
        )
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise _invalid_type(where, "an object", part)
        kind = part.get("type")
        if kind not in allowed:
            raise invalid_request(
                f"Invalid value: {kind!r}. Supported values are: "
                + ", ".join(repr(a) for a in allowed)
                + ".",
                param=f"{where}.type",
                code="invalid_value",
            )
        if kind in ("text", "refusal") and not isinstance(part.get(kind), str):
            raise _invalid_type(f"{where}.{kind}", "a string", part.get(kind))
        if kind in ("file", "input_audio") and not isinstance(part.get(kind), dict):
            raise _invalid_type(f"{where}.{kind}", "an object", part.get(kind))
        if kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str) or not url:
                raise invalid_request(
                    f"Missing required parameter: '{where}.image_url.url'.",
                    param=f"{where}.image_url.url",
                    code="missing_required_parameter",
                )


def _check_content(message: dict[str, Any], role: str, param: str) -> None:
    has_content = "content" in message and message["content"] is not None
    content = message.get("content")
    if role == "assistant" and not has_content:
        if message.get("tool_calls") or message.get("function_call"):
            return
        raise invalid_request(
            f"Missing required parameter: '{param}.content'.",
            param=f"{param}.content",
            code="missing_required_parameter",
        )
    if not has_content:
        raise invalid_request(
            f"Missing required parameter: '{param}.content'.",
            param=f"{param}.content",
            code="missing_required_parameter",
        )
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _invalid_type(f"{param}.content", "a string or an array of content parts", content)
    allowed = USER_PART_TYPES if role == "user" else ("text", "refusal")
    _check_parts(content, f"{param}.content", allowed)


def _check_message(message: Any, index: int) -> None:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _invalid_type(param, "an object", message)
    role = message.get("role")
    if role not in MESSAGE_ROLES:
        if role is None:
            raise invalid_request(
                f"Missing required parameter: '{param}.role'.",
                param=f"{param}.role",
                code="missing_required_parameter",
            )
        raise invalid_request(
            f"Invalid value: {role!r}. Supported values are: "
            + ", ".join(repr(r) for r in MESSAGE_ROLES)
            + ".",
            param=f"{param}.role",
            code="invalid_value",
        )
    _check_content(message, role, param)
    if role == "assistant":
        check_tool_calls(message, param)
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise invalid_request(
            f"Missing required parameter: '{param}.tool_call_id'.",
            param=f"{param}.tool_call_id",
            code="missing_required_parameter",
        )


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" not in body:
        raise invalid_request(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array", messages)
    if not messages:
        raise invalid_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        _check_message(message, index)
    return messages


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise invalid_request(
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    if not model:
        raise invalid_request("Invalid 'model': empty string.", param="model", code="invalid_value")
    return model


def stream_flags(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid_type("stream", "a boolean", stream)
    options = body.get("stream_options")
    if options is None:
        return bool(stream), False
    if not stream:
        raise invalid_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    if not isinstance(options, dict):
        raise _invalid_type("stream_options", "an object", options)
    include = options.get("include_usage")
    if include is not None and not isinstance(include, bool):
        raise _invalid_type("stream_options.include_usage", "a boolean", include)
    return True, bool(include)


def check_n(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, int):
        raise _invalid_type("n", "an integer", n)
    if not 1 <= n <= 128:
        raise invalid_request(
            f"Invalid 'n': {n} is out of range. Expected a value between 1 and 128.",
            param="n",
            code="invalid_value",
        )


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Check a Chat Completions body the way OpenAI does; RelayError(400) names the param."""
    return chat_request_from(parse_json_object(raw))


def chat_request_from(body: dict[str, Any]) -> ChatRequest:
    """Check a parsed Chat Completions body; RelayError(400) names the param."""
    model = model_of(body)
    messages = _messages(body)
    stream, include_usage = stream_flags(body)
    max_tokens = positive_int(body, "max_tokens")
    max_completion_tokens = positive_int(body, "max_completion_tokens")
    check_n(body)
    check_tools(body)
    number_in(body, "presence_penalty", -2.0, 2.0)
    number_in(body, "frequency_penalty", -2.0, 2.0)
    return ChatRequest(
        body=body,
        model=model,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_completion_tokens or max_tokens,
        temperature=number_in(body, "temperature", 0.0, 2.0),
        top_p=number_in(body, "top_p", 0.0, 1.0),
        stop=stop_sequences(body),
        reasoning=intent_from_body(body),
    )
