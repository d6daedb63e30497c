"""A request body as a JSON object: parsed, and refused (400) when no upstream could take it.

orjson reads JSON nested up to 1,024 levels but writes only 254, so a body nested in between
would parse here and then fail on its way upstream. Nothing a model reads is nested anywhere
near `MAX_DEPTH` (a JSON Schema for a tool is a dozen levels at most), so deeper bodies are
refused up front, naming the field.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmrelay.protocol.errors import invalid_request

MAX_DEPTH = 128
PATH_PARTS_SHOWN = 4


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    if not raw:
        raise invalid_request(
            "We could not parse the JSON body of your request: the body is empty. "
            "Send a JSON object with 'model' and 'messages'.",
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(
            f"We could not parse the JSON body of your request ({exc}). "
            "The body must be a JSON object with 'model' and 'messages'.",
        ) from None
    if not isinstance(body, dict):
        raise invalid_request(
            f"The JSON body of your request must be an object, not {type(body).__name__}.",
        )
    # Each level opens a bracket: a body with few brackets needs no walk (most bodies).
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        _check_depth(body)
    return body


def claimed_model(body: dict[str, Any], limit: int = 200) -> str | None:
    """The model a body names, for the ledger, even when the rest of the body is refused."""
    model = body.get("model")
    return model[:limit] if isinstance(model, str) else None


def _check_depth(body: dict[str, Any]) -> None:
    path = _too_deep(body, 1)
    if path is None:
        return
    shown = _render(path[:PATH_PARTS_SHOWN]) + ("..." if len(path) > PATH_PARTS_SHOWN else "")
    raise invalid_request(
        f"Invalid '{shown}': nested more than {MAX_DEPTH} levels deep.",
        param=_render(path[:PATH_PARTS_SHOWN]),
        code="invalid_value",
    )


def _too_deep(value: Any, depth: int) -> list[str | int] | None:
    """The path to the first container nested deeper than `MAX_DEPTH`, if there is one."""
    if depth > MAX_DEPTH:
        return []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for name, inner in items:
        if isinstance(inner, dict | list):
            path = _too_deep(inner, depth + 1)
            if path is not None:
                return [name, *path]
    return None


def _render(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
