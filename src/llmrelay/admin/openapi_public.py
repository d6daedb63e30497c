"""The rest of the public API in OpenAPI 3.1: the doors, the models, health, metrics and the
docs site; `public_document` joins it to the admin and customer document (`openapi.py`).

The doors read their bodies by hand (no validation model per request, ARCHITECTURE.md), so
their schemas are written here, from what `protocol/request.py` and each door check: the
bounds are the ones enforced, and every field a door passes upstream untouched is allowed
(`additionalProperties`). The vendors' full references are linked from each operation.
"""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/ErrorBody"}
ANTHROPIC_ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
REQUEST_ID = {
    "x-request-id": {
        "description": "The request's id in the usage ledger (`req_...`)",
        "schema": {"type": "string"},
    }
}
COST = {
    "x-llmrelay-cost-usd": {
        "description": "What the answer cost, in USD, for a model with a price (whole "
        "answers only)",
        "schema": {"type": "string"},
    }
}
SSE = {"text/event-stream": {"schema": {"type": "string"}}}
OPEN_OBJECT = {"type": "object", "additionalProperties": True}

CHAT_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]},
        "content": {
            "description": "A string, or content parts: `text`, `image_url`, `input_audio`, "
            "`file` (user); `text`, `refusal` (others). Null only on an assistant message "
            "with `tool_calls`.",
            "anyOf": [{"type": "string"}, {"type": "array", "minItems": 1}, {"type": "null"}],
        },
        "name": {"type": "string"},
        "tool_calls": {"type": "array"},
        "tool_call_id": {"type": "string", "description": "Required on a `tool` message"},
    },
    "additionalProperties": True,
}
EFFORT = {"type": "string", "description": "`minimal`, `low`, `medium`, `high`; `none` is off"}
CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {
            "type": "string",
            "minLength": 1,
            "description": "A model or alias `GET /v1/models` lists; a reasoning suffix "
            "(`-thinking`, `-thinking-<budget>`, `-nothinking`, `-minimal`, `-low`, "
            "`-medium`, `-high`) on a reasoning model turns thinking on or off",
        },
        "messages": {"type": "array", "minItems": 1, "items": CHAT_MESSAGE},
        "stream": {"type": "boolean", "default": False},
        "stream_options": {
            "type": "object",
            "description": "Only with `stream: true`",
            "properties": {"include_usage": {"type": "boolean"}},
        },
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
        "stop": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "maxItems": 4},
            ]
        },
        "n": {"type": "integer", "minimum": 1, "maximum": 128, "default": 1},
        "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
        "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
        "tools": {"type": "array"},
        "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
        "reasoning_effort": EFFORT,
        "thinking": {"type": "object", "description": "Anthropic's spelling of thinking"},
        "reasoning": {"type": "object", "description": "OpenRouter's spelling of thinking"},
        "enable_thinking": {"type": "boolean", "description": "Qwen's spelling of thinking"},
        "thinking_budget": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    },
    "additionalProperties": True,
}
USAGE = {
    "type": "object",
    "properties": {
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
        "prompt_tokens_details": OPEN_OBJECT,
        "completion_tokens_details": OPEN_OBJECT,
    },
}
CHAT_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices", "usage"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string", "description": "The name the client asked for"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "properties": {
                            "role": {"const": "assistant"},
                            "content": {"type": ["string", "null"]},
                            "reasoning_content": {"type": "string"},
                            "tool_calls": {"type": "array"},
                        },
                    },
                    "finish_reason": {"enum": ["stop", "length", "tool_calls", "content_filter"]},
                },
            },
        },
        "usage": USAGE,
    },
}
MESSAGES_REQUEST = {
    "type": "object",
    "required": ["model", "max_tokens", "messages"],
    "properties": {
        "model": {"type": "string"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "messages": {"type": "array", "items": OPEN_OBJECT},
        "system": {"anyOf": [{"type": "string"}, {"type": "array"}]},
        "stream": {"type": "boolean"},
        "stop_sequences": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        "thinking": OPEN_OBJECT,
        "tools": {"type": "array"},
    },
    "additionalProperties": True,
}
RESPONSES_REQUEST = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "model": {"type": "string"},
        "input": {"anyOf": [{"type": "string"}, {"type": "array"}]},
        "instructions": {"type": "string"},
        "previous_response_id": {"type": "string"},
        "store": {"type": "boolean", "default": True},
        "stream": {"type": "boolean"},
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "reasoning": OPEN_OBJECT,
        "tools": {"type": "array"},
    },
    "additionalProperties": True,
}
EMBEDDINGS_REQUEST = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"},
        "input": {
            "description": "A string, strings, token ids, or arrays of token ids (2048 at most)",
            "anyOf": [{"type": "string"}, {"type": "array", "maxItems": 2048}],
        },
        "encoding_format": {"enum": ["float", "base64"], "default": "float"},
        "dimensions": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": True,
}
COMPLETIONS_REQUEST = {
    "type": "object",
    "required": ["model", "prompt"],
    "properties": {
        "model": {"type": "string"},
        "prompt": {"anyOf": [{"type": "string"}, {"type": "array"}]},
        "max_tokens": {"type": "integer", "minimum": 1, "default": 16},
        "stream": {"type": "boolean"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": CHAT_REQUEST["properties"]["stop"],  # type: ignore[index]
        "logprobs": {"type": "integer", "minimum": 0, "maximum": 5},
    },
    "additionalProperties": True,
}
MODEL_CARD = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "endpoints": {"type": "array", "items": {"type": "string"}},
        "type": {"const": "model"},
        "display_name": {"type": "string"},
        "created_at": {"type": "string"},
    },
    "additionalProperties": True,
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _door(
    summary: str, request: dict[str, Any], answer: dict[str, Any], reference: str, tag: str
) -> dict[str, Any]:
    """A door: a JSON body in; a JSON answer, or SSE with `stream: true`; errors in the door's
    shape, with the statuses docs/errors.md lists."""
    error = ANTHROPIC_ERROR if tag == "messages" else ERROR
    ok = _json(answer, "The answer; with `stream: true`, server-sent events")
    ok["content"].update(SSE)
    ok["headers"] = {**REQUEST_ID, **COST}
    responses = {"200": ok}
    for status, why in DOOR_ERRORS.items():
        responses[status] = {**_json(error, why), "headers": REQUEST_ID}
    return {
        "operationId": "post_" + tag,
        "summary": summary,
        "tags": ["doors"],
        "security": [{"bearer": []}],
        "externalDocs": {"url": reference},
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": responses,
    }


DOOR_ERRORS = {
    "400": "a malformed body, a bad field (`param` names it), a model that cannot do this",
    "401": "no key, a wrong, revoked, disabled or expired key",
    "403": "the key's `allowed_ips` do not hold the caller",
    "404": "an unknown model, or one the key may not use",
    "413": "a body over `server.max_body_bytes`",
    "429": "a rate limit, the key's budget, the upstream's limit or the local model's queue",
    "502": "the upstream failed",
    "503": "overloaded: the upstream, or the relay (busy, draining, its database)",
    "504": "the upstream did not answer in time",
}


def _get(summary: str, tag: str, content: dict[str, Any], secured: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": "get_" + tag,
        "summary": summary,
        "tags": [tag.split("_")[0]],
        "responses": {"200": {"description": "OK", "content": content}},
    }
    if secured:
        operation["security"] = [{"bearer": []}]
        operation["responses"]["401"] = _json(ERROR, "no key or a wrong one")
    return operation


def _page(kind: str) -> dict[str, Any]:
    return {kind: {"schema": {"type": "string"}}}


def public_paths() -> dict[str, dict[str, Any]]:
    """Every route outside the admin and customer table, by path and method."""
    openai = "https://platform.openai.com/docs/api-reference"
    stored = {"parameters": [{"name": "response_id", "in": "path", "required": True,
                              "schema": {"type": "string"}}]}  # fmt: skip
    return {
        "/v1/chat/completions": {"post": _door(
            "Chat Completions (docs/chat.md)", CHAT_REQUEST, CHAT_COMPLETION,
            f"{openai}/chat/create", "chat_completions")},
        "/v1/messages": {"post": _door(
            "Anthropic Messages (docs/messages.md)", MESSAGES_REQUEST, OPEN_OBJECT,
            "https://docs.anthropic.com/en/api/messages", "messages")},
        "/v1/messages/count_tokens": {"post": {
            **_door("Count a Messages request's input tokens", MESSAGES_REQUEST, OPEN_OBJECT,
                    "https://docs.anthropic.com/en/api/messages-count-tokens", "messages"),
            "operationId": "post_messages_count_tokens"}},
        "/v1/responses": {"post": _door(
            "OpenAI Responses (docs/responses.md)", RESPONSES_REQUEST, OPEN_OBJECT,
            f"{openai}/responses/create", "responses")},
        "/v1/responses/{response_id}": {
            **stored,
            "get": _get("A stored response, for the key that made it", "responses_get",
                        {"application/json": {"schema": OPEN_OBJECT}}, True),
            "delete": {**_get("Delete a stored response", "responses_delete",
                              {"application/json": {"schema": OPEN_OBJECT}}, True),
                       "operationId": "delete_responses"},
        },
        "/v1/responses/{response_id}/input_items": {**stored, "get": _get(
            "A stored response's input items", "responses_input_items",
            {"application/json": {"schema": OPEN_OBJECT}}, True)},
        "/v1/embeddings": {"post": _door(
            "Embeddings (docs/embeddings.md)", EMBEDDINGS_REQUEST, OPEN_OBJECT,
            f"{openai}/embeddings/create", "embeddings")},
        "/v1/completions": {"post": _door(
            "Legacy completions (docs/completions.md)", COMPLETIONS_REQUEST, OPEN_OBJECT,
            f"{openai}/completions/create", "completions")},
        "/v1/models": {"get": _get(
            "The models the key may use (docs/models.md)", "models_list",
            {"application/json": {"schema": {"type": "object", "properties": {
                "object": {"const": "list"}, "data": {"type": "array", "items": MODEL_CARD}}}}},
            True)},
        "/v1/models/{model_id}": {
            "parameters": [{"name": "model_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": _get("One model's card", "models_one",
                        {"application/json": {"schema": MODEL_CARD}}, True)},
        "/healthz": {"get": _get("The process is alive", "health_alive",
                                 {"application/json": {"schema": OPEN_OBJECT}}, False)},
        "/readyz": {"get": {
            **_get("Ready to serve (503 when not); the admin key also sees why", "health_ready",
                   {"application/json": {"schema": OPEN_OBJECT}}, False),
            "responses": {"200": _json(OPEN_OBJECT, "ready"),
                          "503": _json(OPEN_OBJECT, "unavailable, or draining")}}},
        "/metrics": {"get": _get(
            "Prometheus metrics (the admin key unless `metrics.public`)", "metrics",
            _page("text/plain"), True)},
        "/models": {"get": _get(
            "The model catalogue page (HTML, in the reader's language; a key unless "
            "`catalogue.public`; docs/catalogue.md)", "catalogue",
            _page("text/html"), False)},
        "/docs": {"get": _get("The documentation's index (HTML)", "docs_index",
                              _page("text/html"), False)},
        "/docs/{page}": {
            "parameters": [{"name": "page", "in": "path", "required": True,
                            "description": "`quickstart` (HTML, in the reader's language), "
                            "`quickstart.md` (Markdown), `zh/quickstart`",
                            "schema": {"type": "string"}}],
            "get": _get("A documentation page", "docs_page",
                        {**_page("text/html"), **_page("text/markdown")}, False)},
        "/docs/zh/": {"get": _get("The documentation's index in Chinese (HTML)",
                                  "docs_index_zh", _page("text/html"), False)},
        "/docs/zh/{page}": {
            "parameters": [{"name": "page", "in": "path", "required": True,
                            "description": "A Chinese page (`quickstart`), or its Markdown "
                            "(`quickstart.md`)", "schema": {"type": "string"}}],
            "get": _get("A documentation page in Chinese", "docs_page_zh",
                        {**_page("text/html"), **_page("text/markdown")}, False)},
        "/docs/assets/docs.css": {"get": _get("The documentation's stylesheet", "docs_css",
                                              _page("text/css"), False)},
        "/llms.txt": {"get": _get("The documentation's index for language models",
                                  "docs_llms", _page("text/plain"), False)},
        "/llms-full.txt": {"get": _get("Every documentation page in one file",
                                       "docs_llms_full", _page("text/plain"), False)},
        "/openapi.json": {"get": _get("This document", "docs_openapi",
                                      {"application/json": {"schema": OPEN_OBJECT}}, False)},
        "/console": {"get": _get("The web console (HTML)", "console", _page("text/html"),
                                 False)},
        "/console/assets/{path}": {
            "parameters": [{"name": "path", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": _get("The web console's scripts, styles and icons", "console_assets",
                        _page("*/*"), False)},
    }  # fmt: skip
