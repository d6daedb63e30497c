"""An OpenAI Responses request as the relay's request (OpenAI Chat's shape).

The Responses API (https://platform.openai.com/docs/api-reference/responses/create) says the
same things as Chat Completions in another shape: `instructions` and input items instead of
messages, flat tools, `text.format` instead of `response_format`. This module checks the
body the way that API does and rewrites it, field by field, into a Chat body that every
upstream kind understands. What has no Chat equivalent is a 400 naming the field, except
what a real client always sends and is safe to drop (see docs/responses.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import orjson

from llmrelay.doors import relay_state
from llmrelay.doors.relay_state import Seal
from llmrelay.protocol.errors import RelayError, invalid_request, invalid_type
from llmrelay.protocol.reasoning import intent_from_body
from llmrelay.protocol.request import ChatRequest, chat_request_from

MESSAGE_ROLES = ("user", "assistant", "system", "developer")
REJECTED = ("conversation", "background", "prompt", "max_tool_calls")
"""Fields that need state or machinery the relay does not have: a 400 naming them."""
DROPPED = (
    "store",
    "include",
    "client_metadata",
    "service_tier",
    "safety_identifier",
    "stream_options",
    "metadata",
    "previous_response_id",
    "prompt_cache_retention",
)
"""Fields the door reads or answers itself and never sends upstream (docs/responses.md)."""
COPIED = ("model", "temperature", "top_p", "user", "prompt_cache_key")
"""Fields whose meaning and name are Chat's too."""
TRANSLATED = (
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "max_output_tokens",
    "stream",
    "truncation",
    "top_logprobs",
)
KNOWN = frozenset(REJECTED + DROPPED + COPIED + TRANSLATED)
CUSTOM_INPUT = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
    "additionalProperties": False,
}
"""A `custom` (free-text) tool as a function: its text travels as the string `input`."""


def unsupported(param: str, why: str) -> RelayError:
    return invalid_request(
        f"The relay cannot serve '{param}' through this model: {why}.",
        param=param,
        code="unsupported_parameter",
    )


def missing(param: str) -> RelayError:
    return invalid_request(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def check_fields(body: dict[str, Any]) -> None:
    for name in body:
        if name not in KNOWN:
            raise invalid_request(
                f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
            )
    for name in REJECTED:
        if body.get(name) is not None:
            raise unsupported(name, "it has no equivalent in the upstream's API")
    if body.get("truncation") not in (None, "disabled"):
        raise unsupported("truncation", "only 'disabled' is supported")
    if body.get("top_logprobs") not in (None, 0):
        raise unsupported("top_logprobs", "log probabilities are not relayed")


def input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's `input` as a list of items (a string is one user message)."""
    value = body.get("input")
    if value is None:
        raise missing("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise invalid_type("input", "a string or an array of input items", value)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid_type(f"input[{i}]", "an object", item)
    return value


def instructions_of(body: dict[str, Any]) -> str | None:
    value = body.get("instructions")
    if value is not None and not isinstance(value, str):
        raise invalid_type("instructions", "a string", value)
    return value


# ---- input items -> messages -------------------------------------------------------------


def _text_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    text = part.get("text")
    if not isinstance(text, str):
        raise invalid_type(f"{where}.text", "a string", text)
    return {"type": "text", "text": text}


def _image_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        if part.get("file_id") is not None:
            raise unsupported(f"{where}.file_id", "the relay has no file store; send image_url")
        raise missing(f"{where}.image_url")
    image: dict[str, Any] = {"url": url}
    if part.get("detail") in ("low", "high", "auto"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        name = "file_id" if part.get("file_id") is not None else "file_url"
        raise unsupported(f"{where}.{name}", "the relay has no file store; send file_data")
    file: dict[str, Any] = {"file_data": data}
    if isinstance(part.get("filename"), str):
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


PART_BUILDERS = {
    "input_text": _text_part,
    "output_text": _text_part,
    "text": _text_part,
    "input_image": _image_part,
    "input_file": _file_part,
}


def _parts(content: list[Any], where: str, role: str) -> list[dict[str, Any]]:
    parts = []
    for i, part in enumerate(content):
        here = f"{where}[{i}]"
        if not isinstance(part, dict):
            raise invalid_type(here, "an object", part)
        kind = part.get("type")
        if kind == "refusal" and role == "assistant":
            parts.append({"type": "text", "text": str(part.get("refusal") or "")})
            continue
        builder = PART_BUILDERS.get(kind)  # type: ignore[arg-type]
        if builder is None:
            raise invalid_request(
                f"Invalid value: {kind!r}. Supported values are: 'input_text', "
                "'input_image', 'input_file' and 'output_text'.",
                param=f"{here}.type",
                code="invalid_value",
            )
        built = builder(part, here)
        if built["type"] != "text" and role != "user":
            raise invalid_request(
                f"Invalid '{here}': only a user message may carry {kind}.",
                param=f"{here}.type",
                code="invalid_value",
            )
        parts.append(built)
    return parts


def _content(item: dict[str, Any], where: str, role: str) -> str | list[dict[str, Any]]:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_type(f"{where}.content", "a string or an array of content parts", content)
    parts = _parts(content, f"{where}.content", role)
    if all(part["type"] == "text" for part in parts) and (role != "user" or len(parts) == 1):
        return "".join(part["text"] for part in parts)
    return parts


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in MESSAGE_ROLES:
        raise invalid_request(
            f"Invalid value: {role!r}. Supported values are: 'user', 'assistant', 'system' "
            "and 'developer'.",
            param=f"{where}.role",
            code="invalid_value",
        )
    # `developer` is the newer name of `system`; not every upstream knows it.
    chat_role = "system" if role == "developer" else role
    return {"role": chat_role, "content": _content(item, where, role)}


def _string(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise invalid_type(f"{where}.{name}", "a string", value)
    return value


def _tool_call(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = _string(item, "call_id", where)
    name = _string(item, "name", where)
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        name = flat_name(namespace, name)
    if item.get("type") == "custom_tool_call":
        arguments = orjson.dumps({"input": _string(item, "input", where)}).decode()
    else:
        arguments = _string(item, "arguments", where)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _tool_output(item: dict[str, Any], where: str) -> tuple[dict[str, Any], dict | None]:
    """The tool message, and a user message with the output's images (Chat's tool messages
    carry text only)."""
    call_id = _string(item, "call_id", where)
    output = item.get("output")
    if isinstance(output, str):
        return {"role": "tool", "tool_call_id": call_id, "content": output}, None
    if not isinstance(output, list):
        raise invalid_type(f"{where}.output", "a string or an array of content parts", output)
    parts = _parts(output, f"{where}.output", "user")
    text = "".join(part["text"] for part in parts if part["type"] == "text")
    media = [part for part in parts if part["type"] != "text"]
    tool = {"role": "tool", "tool_call_id": call_id, "content": text}
    return tool, ({"role": "user", "content": media} if media else None)


class _Conversation:
    """Messages built item by item: tool calls join the assistant message just before them.

    Upstream state from a relay-minted `reasoning` item (relay_state.py) goes back on the
    assistant message of its turn: the one before it since the last user or tool message
    (the relay sends the item after the message and calls), else the next one."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.pending_media: list[dict[str, Any]] = []
        self.turn: dict[str, Any] | None = None
        """The assistant message of the turn under way (None: no assistant message yet)."""
        self.states: list[dict[str, Any]] = []
        """State for the turn under way, put on its assistant message when the turn ends."""

    def add(self, message: dict[str, Any]) -> None:
        if message["role"] != "tool":
            self._flush_media()
        if message["role"] != "assistant" or self.turn is not None:
            self._end_turn()  # (a second assistant message ends the first one's turn)
        if message["role"] == "assistant":
            self.turn = message
        self.messages.append(message)

    def add_call(self, call: dict[str, Any]) -> None:
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != "assistant" or self.pending_media:
            self.add(last := {"role": "assistant", "content": None})
        last.setdefault("tool_calls", []).append(call)

    def add_output(self, tool: dict[str, Any], media: dict[str, Any] | None) -> None:
        self._end_turn()
        self.messages.append(tool)
        if media is not None:
            self.pending_media.extend(media["content"])

    def add_state(self, payload: dict[str, Any]) -> None:
        self.states.append(payload)

    def _end_turn(self) -> None:
        if self.turn is not None:
            for payload in self.states:
                relay_state.restore(self.turn, payload)
        self.states = []
        self.turn = None

    def _flush_media(self) -> None:
        if self.pending_media:
            self.messages.append({"role": "user", "content": self.pending_media})
            self.pending_media = []

    def done(self) -> list[dict[str, Any]]:
        self._end_turn()
        self._flush_media()
        return self.messages


def messages_from(
    items: list[dict[str, Any]], param: str = "input", seal: Seal | None = None
) -> list[dict[str, Any]]:
    """Chat messages for `items`. A `reasoning` item carries nothing a Chat upstream takes
    unless its `encrypted_content` is a token `seal` opens: that state goes back on its
    turn's assistant message; any other (OpenAI's own, altered, forged) is dropped."""
    conversation = _Conversation()
    for i, item in enumerate(items):
        where = f"{param}[{i}]"
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            conversation.add(_message(item, where))
        elif kind in ("function_call", "custom_tool_call"):
            conversation.add_call(_tool_call(item, where))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            conversation.add_output(*_tool_output(item, where))
        elif kind == "reasoning":
            payload = seal.open(item.get("encrypted_content")) if seal is not None else None
            if payload is not None:
                conversation.add_state(payload)
        elif kind is None:
            raise missing(f"{where}.type")
        else:
            raise unsupported(f"{where}.type", f"input items of type {kind!r} are not relayed")
    return conversation.done()


# ---- tools ------------------------------------------------------------------------------


NAMESPACE_SEPARATOR = "__"
MAX_FUNCTION_NAME = 64
"""OpenAI's limit on a Chat function's name (`^[a-zA-Z0-9_-]{1,64}$`)."""


def flat_name(namespace: str, name: str) -> str:
    """The Chat function name of tool `name` in `namespace`: `<namespace>__<name>` (no second
    `__` when the namespace ends with one, as Codex's `mcp__server__` do); one longer than
    Chat allows is cut, with a hash of the whole to keep it apart from others."""
    separator = "" if namespace.endswith(NAMESPACE_SEPARATOR) else NAMESPACE_SEPARATOR
    flat = f"{namespace}{separator}{name}"
    if len(flat) <= MAX_FUNCTION_NAME:
        return flat
    digest = hashlib.sha256(flat.encode()).hexdigest()[:8]
    return f"{flat[: MAX_FUNCTION_NAME - 9]}_{digest}"


@dataclasses.dataclass(slots=True)
class ChatTools:
    """The request's tools as Chat functions, and what it takes to name their calls back."""

    functions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    custom: set[str] = dataclasses.field(default_factory=set)
    """The (Chat) names of `custom` tools: their calls go back as `custom_tool_call`s."""
    namespaced: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    """The Chat name of each tool of a `namespace` group: its namespace and own name."""

    def add(self, tool: dict[str, Any], where: str, namespace: str | None = None) -> None:
        """A `function` or `custom` tool; built-in tools (`web_search`, ...) are dropped: a
        Chat upstream cannot run them, and Codex always sends some (docs/responses.md)."""
        kind = tool.get("type")
        if kind not in ("function", "custom"):
            if not isinstance(kind, str):
                raise missing(f"{where}.type")
            return
        name = _string(tool, "name", where)
        chat_name = name if namespace is None else flat_name(namespace, name)
        build = _function_tool if kind == "function" else _custom_tool
        self.functions.append(build(tool, chat_name))
        if kind == "custom":
            self.custom.add(chat_name)
        if namespace is not None:
            self.namespaced[chat_name] = (namespace, name)

    def add_namespace(self, group: dict[str, Any], where: str) -> None:
        """A `namespace` group (Codex sends one per MCP server): each of its tools becomes a
        function named `<namespace>__<name>`."""
        namespace = _string(group, "name", where)
        tools = group.get("tools")
        if not isinstance(tools, list):
            raise invalid_type(f"{where}.tools", "an array", tools)
        for j, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise invalid_type(f"{where}.tools[{j}]", "an object", tool)
            self.add(tool, f"{where}.tools[{j}]", namespace)


def _function_tool(tool: dict[str, Any], name: str) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    for field_name in ("description", "parameters", "strict"):
        if tool.get(field_name) is not None:
            function[field_name] = tool[field_name]
    return {"type": "function", "function": function}


def _custom_tool(tool: dict[str, Any], name: str) -> dict[str, Any]:
    description = tool.get("description") or ""
    grammar = tool.get("format")
    if isinstance(grammar, dict) and grammar.get("type") == "grammar":
        syntax, definition = grammar.get("syntax"), grammar.get("definition")
        description += f"\n\nThe input must follow this {syntax} grammar:\n{definition}"
    function = {"name": name, "description": description.strip(), "parameters": CUSTOM_INPUT}
    return {"type": "function", "function": function}


def chat_tools(body: dict[str, Any]) -> ChatTools:
    tools = body.get("tools")
    chat = ChatTools()
    if tools is None:
        return chat
    if not isinstance(tools, list):
        raise invalid_type("tools", "an array", tools)
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        if tool.get("type") == "namespace":
            chat.add_namespace(tool, where)
        else:
            chat.add(tool, where)
    return chat


def chat_tool_choice(choice: Any, names: set[str]) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        name = choice.get("name")
        if name not in names:
            raise invalid_request(
                f"Invalid 'tool_choice': no function tool is named {name!r}.",
                param="tool_choice.name",
                code="invalid_value",
            )
        return {"type": "function", "function": {"name": name}}
    raise unsupported("tool_choice", "only 'auto', 'none', 'required' or a function tool")


# ---- settings ---------------------------------------------------------------------------


def response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """`text.format` (flat) as Chat's `response_format` (the schema nested)."""
    text = body.get("text")
    if text is None:
        return None
    if not isinstance(text, dict):
        raise invalid_type("text", "an object", text)
    form = text.get("format")
    if form is None:
        return None
    if not isinstance(form, dict):
        raise invalid_type("text.format", "an object", form)
    kind = form.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise invalid_request(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and "
            "'json_schema'.",
            param="text.format.type",
            code="invalid_value",
        )
    schema = {"name": _string(form, "name", "text.format")}
    if not isinstance(form.get("schema"), dict):
        raise missing("text.format.schema")
    for field in ("schema", "strict", "description"):
        if form.get(field) is not None:
            schema[field] = form[field]
    return {"type": "json_schema", "json_schema": schema}


def reasoning_effort(body: dict[str, Any]) -> str | None:
    reasoning = body.get("reasoning")
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise invalid_type("reasoning", "an object", reasoning)
    effort = reasoning.get("effort")
    if effort is not None and not isinstance(effort, str):
        raise invalid_type("reasoning.effort", "a string", effort)
    return effort


def max_output_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_output_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type("max_output_tokens", "an integer", value)
    if value < 16:
        raise invalid_request(
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value "
            f">= 16, but got {value} instead.",
            param="max_output_tokens",
            code="integer_below_min_value",
        )
    return value


def relay_request(
    body: dict[str, Any],
    items: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    seal: Seal | None = None,
) -> ChatRequest:
    """The relay's request for `items` under this request's settings. `reasoning.effort`
    becomes an intent each provider writes in its upstream's spelling, for models configured
    `reasoning: true` (a Chat upstream without reasoning would refuse `reasoning_effort`)."""
    request = chat_request_from(chat_body(body, items, tools, seal))
    effort = reasoning_effort(body)
    if effort is not None:
        request.reasoning = intent_from_body({"reasoning_effort": effort})
        request.reasoning_translated = True
    return request


def chat_body(
    body: dict[str, Any],
    items: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    seal: Seal | None = None,
) -> dict[str, Any]:
    """The Chat body for `items` (any earlier turns, then this request's input) under this
    request's settings; only this request's `instructions` apply. `seal` opens the relay's
    own `encrypted_content`."""
    chat: dict[str, Any] = {name: body[name] for name in COPIED if body.get(name) is not None}
    instructions = instructions_of(body)
    system = [{"role": "system", "content": instructions}] if instructions else []
    chat["messages"] = system + messages_from(items, seal=seal)
    if tools:
        chat["tools"] = tools
        names = {tool["function"]["name"] for tool in tools}
        choice = chat_tool_choice(body.get("tool_choice"), names)
        if choice is not None:
            chat["tool_choice"] = choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    elif body.get("tool_choice") not in (None, "auto", "none"):
        raise invalid_request(
            "Invalid 'tool_choice': the request has no function tools.", param="tool_choice"
        )
    form = response_format(body)
    if form is not None:
        chat["response_format"] = form
    limit = max_output_tokens(body)
    if limit is not None:
        chat["max_completion_tokens"] = limit
    stream = body.get("stream")
    if stream is not None:
        chat["stream"] = stream
        if stream is True:
            chat["stream_options"] = {"include_usage": True}
    return chat
