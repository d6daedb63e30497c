"""Refusals told apart whatever the vendor: a prompt too long, a content filter.

The bodies are the vendors' own error shapes (checked against their public errors): each
keeps its status and message, and gets OpenAI's code when the vendor gave another.
"""

from __future__ import annotations

import orjson
import pytest

from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.providers.anthropic_response import map_anthropic_error
from llmrelay.providers.gemini_response import map_gemini_error
from llmrelay.providers.upstream_errors import error_refusal, map_openai_error, refusal_kind

OPENAI_TOO_LONG = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your "
        "messages resulted in 8227 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
VLLM_TOO_LONG = {
    "object": "error",
    "message": "This model's maximum context length is 4096 tokens. However, you requested "
    "5000 tokens. Please reduce the length of the messages or completion.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
AZURE_FILTERED = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {"violence": {"filtered": True, "severity": "high"}},
        },
    }
}
OPENAI_POLICY = {
    "error": {
        "message": "Your request was rejected as a result of our safety system.",
        "type": "invalid_request_error",
        "param": None,
        "code": "content_policy_violation",
    }
}
OPENAI_INVALID_PROMPT = {
    "error": {
        "message": "Invalid prompt: your prompt was flagged as potentially violating our "
        "usage policy. Please try again with a different prompt.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_prompt",
    }
}
ANTHROPIC_TOO_LONG = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "prompt is too long: 208656 tokens > 200000 maximum",
    },
}
GEMINI_TOO_LONG = {
    "error": {
        "code": 400,
        "message": "The input token count (1200293) exceeds the maximum number of tokens "
        "allowed (1048576).",
        "status": "INVALID_ARGUMENT",
    }
}


def raw(body: object) -> bytes:
    return orjson.dumps(body)


def test_openai_context_length_passes_through_unchanged() -> None:
    error = map_openai_error("openai", 400, raw(OPENAI_TOO_LONG), {}, [])
    assert error.status == 400
    assert error.body() == OPENAI_TOO_LONG
    assert error_refusal(error) == "context_length"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (VLLM_TOO_LONG, "context_length_exceeded"),
        (AZURE_FILTERED, "content_filter"),
        (OPENAI_POLICY, "content_policy_violation"),
        (OPENAI_INVALID_PROMPT, "invalid_prompt"),
    ],
    ids=["vllm", "azure", "policy", "invalid-prompt"],
)
def test_openai_compatible_refusals(body: dict, code: str) -> None:
    error = map_openai_error("x", 400, raw(body), {}, [])
    assert (error.status, error.code) == (400, code)
    kind = "context_length" if body is VLLM_TOO_LONG else "content_filter"
    assert error_refusal(error) == kind


def test_anthropic_prompt_too_long_gets_openais_code() -> None:
    error = map_anthropic_error("claude", 400, raw(ANTHROPIC_TOO_LONG), {}, [])
    body = error.body()["error"]
    assert error.status == 400
    assert body["code"] == "context_length_exceeded" and body["param"] == "messages"
    assert body["message"] == ANTHROPIC_TOO_LONG["error"]["message"]
    assert body["type"] == "invalid_request_error"
    assert error_refusal(error) == "context_length"


def test_gemini_input_too_long_gets_openais_code() -> None:
    error = map_gemini_error("gemini", 400, raw(GEMINI_TOO_LONG), {}, [])
    assert (error.status, error.code) == (400, "context_length_exceeded")
    assert error.message == GEMINI_TOO_LONG["error"]["message"]
    assert error_refusal(error) == "context_length"


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "invalid_value", "Invalid value for 'logit_bias'."),
        (400, "invalid_prompt", "Invalid prompt: the schema is malformed."),
        (500, "context_length_exceeded", "maximum context length"),
        (429, None, "prompt is too long"),
    ],
)
def test_other_errors_are_no_refusal(status: int, code: str | None, message: str) -> None:
    assert refusal_kind(status, code, message) is None


def test_the_local_models_refusal_counts_too() -> None:
    error = invalid_request("12 tokens > 8", param="messages", code="context_length_exceeded")
    assert error_refusal(error) == "context_length"
    assert error_refusal(RelayError(400, "bad", code="x")) is None
    assert error_refusal(ValueError("prompt is too long")) is None
