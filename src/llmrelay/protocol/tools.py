"""Checking the tool-calling fields of a request: `tools`, `tool_choice`, and the
`tool_calls` of earlier assistant turns. Vendors translate these field by field, so a
malformed one must be a 400 here, not an exception deep inside a translator."""

from __future__ import annotations

from typing import Any

from llmrelay.protocol.errors import RelayError, invalid_request

TOOL_CHOICE_MODES = ("none", "auto", "required")


def _bad(param: str, expected: str) -> RelayError:
    return invalid_request(
        f"Invalid '{param}': expected {expected}.", param=param, code="invalid_type"
    )


def _check_function(function: Any, param: str, with_arguments: bool) -> None:
    if not isinstance(function, dict):
        raise _bad(param, "an object with a 'name'")
    if not isinstance(function.get("name"), str) or not function["name"]:
        raise _bad(f"{param}.name", "a non-empty string")
    if with_arguments and not isinstance(function.get("arguments", ""), str):
        raise _bad(f"{param}.arguments", "a string of JSON")


def check_tool_calls(message: dict[str, Any], param: str) -> None:
    """An assistant message's `tool_calls`: a list of `{id, type, function{name, arguments}}`."""
    calls = message.get("tool_calls")
    if calls is None:
        return
    if not isinstance(calls, list):
        raise _bad(f"{param}.tool_calls", "an array")
    for i, call in enumerate(calls):
        where = f"{param}.tool_calls[{i}]"
        if not isinstance(call, dict):
            raise _bad(where, "an object")
        if "id" in call and not isinstance(call["id"], str):
            raise _bad(f"{where}.id", "a string")
        _check_function(call.get("function"), f"{where}.function", with_arguments=True)


def check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _bad("tools", "an array")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _bad(f"tools[{i}]", "an object")
            if tool.get("type", "function") == "function":
                _check_function(tool.get("function"), f"tools[{i}].function", False)
    choice = body.get("tool_choice")
    if choice is None or choice in TOOL_CHOICE_MODES:
        return
    if isinstance(choice, str):
        raise invalid_request(
            f"Invalid value: {choice!r}. Supported values are: 'none', 'auto' and 'required'.",
            param="tool_choice",
            code="invalid_value",
        )
    if not isinstance(choice, dict):
        raise _bad("tool_choice", "a string or an object")
    if choice.get("type", "function") == "function":
        _check_function(choice.get("function"), "tool_choice.function", False)
