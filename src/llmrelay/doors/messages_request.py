"""An Anthropic Messages request (https://docs.anthropic.com/en/api/messages) as the relay's
request: an OpenAI Chat Completions body, so that every upstream kind can answer it.

The mapping is described in docs/messages.md: system blocks become one system message,
mid-conversation `system` turns join the adjacent user turn, `tool_result` blocks become
`tool` messages right after the assistant's calls, `thinking` becomes `reasoning_content`,
tools and `tool_choice` take Chat's shape, and `thinking` / `output_config.effort` become a
reasoning intent (written per upstream, for models configured `reasoning: true`). What
cannot be said in Chat is refused with a 400 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from llmrelay.doors import messages_signatures
from llmrelay.doors.messages_ids import sanitize_tool_id
from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.protocol.reasoning import MAX_BUDGET, ReasoningIntent

BILLING_BLOCK_PREFIX = "x-anthropic-billing-header:"
"""Claude Code's attribution block, first in `system`: only Anthropic reads it."""
MAX_STOP_SEQUENCES = 4
"""OpenAI Chat's limit on `stop`."""
MISSING_RESULT = "No result was given for this tool call."
EFFORT_BUDGETS = ((4096, "low"), (16384, "medium"))
"""A thinking budget below each bound maps to that effort; larger ones are `high`."""
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}

SAMPLING_FIELDS = ("temperature", "top_p", "top_k")
DROPPED_FIELDS = frozenset(
    {
        "stream",  # read elsewhere
        "thinking",
        "metadata",  # Anthropic's own bookkeeping, its prompt cache and its account
        "context_management",
        "cache_control",
        "diagnostics",
        "service_tier",
        "inference_geo",
        "speed",
        "user_profile_id",
        "workspace_id",
    }
)
"""Read elsewhere, or only meaningful at Anthropic and safe to drop (see docs/messages.md)."""
KNOWN_FIELDS = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "tools",
        "tool_choice",
        "output_config",
        *SAMPLING_FIELDS,
        *DROPPED_FIELDS,
    }
)


def invalid(param: str, message: str) -> RelayError:
    """A 400 naming the field, in the words Anthropic's API uses (`<field>: <problem>`)."""
    return invalid_request(f"{param}: {message}", param=param)


@dataclass(slots=True)
class Translated:
    """The Chat body built from a Messages body, its output cap and the reasoning it asked
    for. The cap is kept out of the body: each provider writes it in its upstream's own field
    (`max_completion_tokens` for OpenAI's reasoning models, `max_tokens` elsewhere)."""

    body: dict[str, Any]
    max_tokens: int
    reasoning: ReasoningIntent | None


def chat_body_from_messages(body: dict[str, Any]) -> Translated:
    """The Chat body for a Messages body; RelayError(400) names what cannot be translated."""
    for name in body:
        if name not in KNOWN_FIELDS:
            raise invalid(name, "Extra inputs are not permitted")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "Field required" if model is None else "Input should be a name")
    chat: dict[str, Any] = {"model": model}
    chat["messages"] = _system_messages(body.get("system")) + _conversation(body)
    max_tokens = _max_tokens(body)
    if body.get("stream") is not None:
        chat["stream"] = body["stream"]
    stop = _stop_sequences(body.get("stop_sequences"))
    if stop:
        chat["stop"] = stop
    for name in SAMPLING_FIELDS:
        if body.get(name) is not None:
            chat[name] = body[name]
    _tools(body, chat)
    reasoning = _reasoning(body)
    _output_format(body.get("output_config"), chat)
    return Translated(chat, max_tokens, reasoning)


def _max_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_tokens")
    if value is None:
        raise invalid("max_tokens", "Field required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("max_tokens", "Input should be a valid integer")
    if value < 1:
        raise invalid("max_tokens", "Input should be greater than or equal to 1")
    return value


def _stop_sequences(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise invalid("stop_sequences", "Input should be a valid list of strings")
    if len(value) > MAX_STOP_SEQUENCES:
        raise invalid(
            "stop_sequences",
            f"at most {MAX_STOP_SEQUENCES} stop sequences can be translated for this model "
            f"(got {len(value)})",
        )
    return value


# ---- system ------------------------------------------------------------------------------


def _block_texts(content: Any, param: str) -> list[str]:
    """The texts of a string or a list of text blocks (the shape of `system`)."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise invalid(param, "Input should be a valid string or a list of text blocks")
    texts = []
    for i, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise invalid(f"{param}.{i}", "Input should be a text block")
        if not isinstance(block.get("text"), str):
            raise invalid(f"{param}.{i}.text", "Input should be a valid string")
        texts.append(block["text"])
    return texts


def _system_messages(system: Any) -> list[dict[str, Any]]:
    if system is None:
        return []
    texts = [t for t in _block_texts(system, "system") if not t.startswith(BILLING_BLOCK_PREFIX)]
    text = "\n\n".join(t for t in texts if t)
    return [{"role": "system", "content": text}] if text else []


# ---- messages ----------------------------------------------------------------------------


def _conversation(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("messages", "Field required")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "Input should be a non-empty list")
    out = _Conversation()
    for i, message in enumerate(messages):
        param = f"messages.{i}"
        if not isinstance(message, dict):
            raise invalid(param, "Input should be a valid dictionary")
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        elif not isinstance(content, list):
            raise invalid(f"{param}.content", "Input should be a valid string or list")
        if role == "user":
            out.user(content, param)
        elif role == "assistant":
            out.assistant(content, param)
        elif role == "system":
            out.system(_block_texts(content, f"{param}.content"))
        else:
            raise invalid(f"{param}.role", "Input should be 'user', 'assistant' or 'system'")
    return out.finish()


class _Conversation:
    """Builds the Chat messages turn by turn, keeping OpenAI's rule that an assistant's tool
    calls are followed at once by one `tool` message each."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.pending_calls: list[str] = []
        """Ids of the last assistant turn's tool calls that have no `tool` message yet."""
        self.held_system: list[str] = []
        """Mid-conversation system text waiting for the next user turn."""

    def user(self, content: list[Any], param: str) -> None:
        results: dict[str, str] = {}
        parts: list[dict[str, Any]] = []
        for j, block in enumerate(content):
            where = f"{param}.content.{j}"
            kind = _block_type(block, where)
            if kind == "tool_result":
                tool_id = sanitize_tool_id(block.get("tool_use_id"))
                text, images = _tool_result(block, where)
                if tool_id in self.pending_calls:
                    results[tool_id] = text
                else:  # a result for no call OpenAI knows of: keep what it says
                    parts.append({"type": "text", "text": f"Tool result {tool_id}: {text}"})
                parts.extend(images)
            else:
                parts.append(_user_part(block, kind, where))
        self._answer_calls(results)
        if self.held_system:
            parts = [_text_part(t) for t in self.held_system] + parts
            self.held_system = []
        if parts:
            self.messages.append({"role": "user", "content": _flatten(parts)})

    def assistant(self, content: list[Any], param: str) -> None:
        self._answer_calls({})
        self._release_system()
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[dict[str, Any]] = []
        signatures: dict[str, str] = {}
        for j, block in enumerate(content):
            where = f"{param}.content.{j}"
            kind = _block_type(block, where)
            if kind == "text":
                texts.append(_string(block, "text", where))
            elif kind == "thinking":
                relayed = messages_signatures.decode(block.get("signature"))
                if relayed is not None:  # the relay's own: upstream state, not thinking
                    signatures.update(relayed)
                else:
                    thinking.append(_string(block, "thinking", where))
            elif kind == "redacted_thinking":
                continue  # encrypted for Anthropic alone
            elif kind == "tool_use":
                calls.append(_tool_call(block, where))
            else:
                raise invalid(f"{where}.type", f"'{kind}' blocks cannot be sent to this model")
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
        if thinking:
            message["reasoning_content"] = "".join(thinking)
        if calls:
            message["tool_calls"] = calls
            self.pending_calls = [call["id"] for call in calls]
        elif message["content"] is None:
            message["content"] = ""
        messages_signatures.restore(message, signatures)
        self.messages.append(message)

    def system(self, texts: list[str]) -> None:
        """A mid-conversation system turn joins the user turn before it, or else the next one
        (OpenAI-compatible servers refuse system messages after the first)."""
        text = "\n\n".join(t for t in texts if t)
        if not text:
            return
        last = self.messages[-1] if self.messages else None
        if last is not None and last["role"] == "user" and not self.pending_calls:
            content = last["content"]
            parts = [_text_part(content)] if isinstance(content, str) else content
            last["content"] = _flatten([*parts, _text_part(text)])
        else:
            self.held_system.append(text)

    def finish(self) -> list[dict[str, Any]]:
        self._answer_calls({})
        self._release_system()
        return self.messages

    def _answer_calls(self, results: dict[str, str]) -> None:
        """One `tool` message per pending call, in the calls' order (a missing result gets a
        stand-in: OpenAI refuses calls without one)."""
        for tool_id in self.pending_calls:
            content = results.get(tool_id, MISSING_RESULT)
            self.messages.append({"role": "tool", "tool_call_id": tool_id, "content": content})
        self.pending_calls = []

    def _release_system(self) -> None:
        """System text held for a user turn that did not come: a user turn of its own."""
        if self.held_system:
            parts = [_text_part(t) for t in self.held_system]
            self.messages.append({"role": "user", "content": _flatten(parts)})
            self.held_system = []


def _block_type(block: Any, where: str) -> str:
    if not isinstance(block, dict):
        raise invalid(where, "Input should be a valid dictionary")
    kind = block.get("type")
    if not isinstance(kind, str):
        raise invalid(f"{where}.type", "Field required")
    return kind


def _string(block: dict[str, Any], name: str, where: str) -> str:
    value = block.get(name)
    if not isinstance(value, str):
        raise invalid(f"{where}.{name}", "Input should be a valid string")
    return value


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _flatten(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text-only content as one string (some servers take nothing else)."""
    if all(part["type"] == "text" for part in parts):
        return "\n\n".join(part["text"] for part in parts)
    return parts


def _user_part(block: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
    if kind == "text":
        return _text_part(_string(block, "text", where))
    if kind == "image":
        return _image_part(block, where)
    if kind == "document":
        return _document_part(block, where)
    raise invalid(f"{where}.type", f"'{kind}' blocks cannot be sent to this model")


def _source(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid(f"{where}.source", "Field required")
    return source


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = _source(block, where)
    kind = source.get("type")
    if kind == "base64":
        media = _string(source, "media_type", f"{where}.source")
        url = f"data:{media};base64,{_string(source, 'data', f'{where}.source')}"
    elif kind == "url":
        url = _string(source, "url", f"{where}.source")
    else:
        raise invalid(f"{where}.source.type", "Input should be 'base64' or 'url'")
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = _source(block, where)
    kind = source.get("type")
    if kind == "text":
        return _text_part(_string(source, "data", f"{where}.source"))
    if kind == "base64":
        media = _string(source, "media_type", f"{where}.source")
        data = _string(source, "data", f"{where}.source")
        name = block.get("title") if isinstance(block.get("title"), str) else "document.pdf"
        file = {"filename": name, "file_data": f"data:{media};base64,{data}"}
        return {"type": "file", "file": file}
    raise invalid(f"{where}.source.type", f"'{kind}' documents cannot be sent to this model")


def _tool_result(block: dict[str, Any], where: str) -> tuple[str, list[dict[str, Any]]]:
    """A tool result's text (prefixed `Error: ` when it failed) and its images."""
    content = block.get("content", "")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, part in enumerate(content):
            inner = f"{where}.content.{k}"
            kind = _block_type(part, inner)
            if kind == "text":
                texts.append(_string(part, "text", inner))
            elif kind == "image":
                images.append(_image_part(part, inner))
            elif kind == "document":
                images.append(_document_part(part, inner))
            else:
                raise invalid(f"{inner}.type", f"'{kind}' blocks cannot be sent to this model")
    elif content is not None:
        raise invalid(f"{where}.content", "Input should be a valid string or list")
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}"
    return text, images


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    name = _string(block, "name", where)
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise invalid(f"{where}.input", "Input should be a valid dictionary")
    function = {"name": name, "arguments": orjson.dumps(arguments).decode()}
    return {"id": sanitize_tool_id(block.get("id")), "type": "function", "function": function}


# ---- tools, reasoning, format --------------------------------------------------------------


def _tools(body: dict[str, Any], chat: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("tools", "Input should be a valid list")
        if tools:
            chat["tools"] = [_function_tool(tool, f"tools.{i}") for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict):
        raise invalid("tool_choice", "Input should be a valid dictionary")
    kind = choice.get("type")
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool":
        name = _string(choice, "name", "tool_choice")
        chat["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        raise invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    if choice.get("disable_parallel_tool_use") is True and "tools" in chat:
        chat["parallel_tool_calls"] = False


def _function_tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise invalid(where, "Input should be a valid dictionary")
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise invalid(
            f"{where}.type",
            f"the Anthropic-defined tool '{kind}' can only run on an Anthropic model",
        )
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        raise invalid(f"{where}.input_schema", "Field required")
    function: dict[str, Any] = {"name": _string(tool, "name", where), "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def effort_for_budget(budget: int) -> str:
    for bound, effort in EFFORT_BUDGETS:
        if budget < bound:
            return effort
    return "high"


def _reasoning(body: dict[str, Any]) -> ReasoningIntent | None:
    """`thinking` as an intent (an effort, and the budget when one was given), which each
    provider writes in its upstream's spelling for models configured `reasoning: true`."""
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise invalid("thinking", "Input should be a valid dictionary")
    kind = thinking.get("type")
    if kind == "disabled":
        return ReasoningIntent(enabled=False)
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or not 0 < budget <= MAX_BUDGET:
            raise invalid("thinking.budget_tokens", "Input should be a positive integer")
        return ReasoningIntent(True, effort=effort_for_budget(budget), budget=budget)
    if kind == "adaptive":
        return ReasoningIntent(True, effort=_effort(body.get("output_config")))
    raise invalid("thinking.type", "Input should be 'enabled', 'adaptive' or 'disabled'")


def _effort(config: Any) -> str | None:
    if not isinstance(config, dict) or config.get("effort") is None:
        return None
    effort = config["effort"]
    if effort not in EFFORTS:
        raise invalid("output_config.effort", "Input should be 'low', 'medium', 'high' or 'max'")
    return EFFORTS[effort]


def _output_format(config: Any, chat: dict[str, Any]) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise invalid("output_config", "Input should be a valid dictionary")
    for name in config:
        if name not in ("effort", "format"):
            raise invalid(f"output_config.{name}", "Extra inputs are not permitted")
    fmt = config.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise invalid("output_config.format.type", "Input should be 'json_schema'")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise invalid("output_config.format.schema", "Field required")
    json_schema = {"name": "output", "schema": schema, "strict": True}
    chat["response_format"] = {"type": "json_schema", "json_schema": json_schema}
