"""An upstream's error reaches the client with the relay's own type and code, and its `param`
only when that names a field the client sent."""

from __future__ import annotations

import orjson
import pytest

from llmrelay.protocol.error_codes import (
    OPENAI_CODES,
    UPSTREAM_ERROR_CODES,
    UPSTREAM_ERROR_TYPES,
)
from llmrelay.providers.anthropic_response import ERROR_CODES, map_anthropic_error
from llmrelay.providers.base import UpstreamError
from llmrelay.providers.credentials import Scrubber
from llmrelay.providers.gemini_response import STATUS_CODES, map_gemini_error
from llmrelay.providers.upstream_errors import field_path, map_openai_error, param_sent

KEY = "sk-vocab-0123456789abcdefghijklmnopqrstu"
SCRUB = Scrubber([KEY])


def openai_body(code: object, param: object = None, kind: object = None) -> bytes:
    error = {"message": "m", "type": kind, "param": param, "code": code}
    return orjson.dumps({"error": error})


@pytest.mark.parametrize("status", [400, 401, 404, 422, 429, 500, 503, 504])
def test_hostile_fields_never_pass(status: int) -> None:
    hostile = f"authorization=Bearer {KEY}"
    bodies = [
        map_openai_error("o", status, openai_body(hostile, hostile, hostile), {}, SCRUB),
        map_anthropic_error(
            "a", status, orjson.dumps({"type": "error", "error": {"type": hostile}}), {}, SCRUB
        ),
        map_gemini_error(
            "g", status, orjson.dumps({"error": {"code": status, "status": hostile}}), {}, SCRUB
        ),
    ]
    for error in bodies:
        assert error.type in UPSTREAM_ERROR_TYPES
        assert error.code is None or error.code in UPSTREAM_ERROR_CODES
        assert error.param is None
        assert KEY[:8] not in orjson.dumps(error.body()).decode()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("invalid_value", "invalid_value"),
        ("unsupported_parameter", "unsupported_parameter"),
        ("model_not_found", "model_not_found"),
        ("INVALID_VALUE", None),
        ("some_vendor_code", None),
        (400, None),
    ],
)
def test_only_openais_codes_pass(code: object, expected: str | None) -> None:
    error = map_openai_error("o", 400, openai_body(code, kind="vendor_type"), {}, [])
    assert (error.code, error.type) == (expected, "invalid_request_error")


def test_vendor_tables_map_into_the_vocabulary() -> None:
    assert set(ERROR_CODES.values()) <= UPSTREAM_ERROR_CODES
    assert set(STATUS_CODES.values()) <= OPENAI_CODES


def test_an_upstream_error_holds_to_the_vocabulary() -> None:
    error = UpstreamError(429, "slow", type="my_type", code="my_code")
    assert (error.type, error.code) == ("rate_limit_error", None)
    assert UpstreamError(504, "late", code="upstream_timeout").type == "timeout_error"


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("messages", "messages"),
        ("messages[0].content", "messages[0].content"),
        ("messages.[1].role", "messages.[1].role"),
        ("tools.0.function.name", "tools.0.function.name"),
        ("authorization=Bearer x", None),
        ("messages " + KEY, None),
        (f"x{KEY[3:].replace('-', '_')}", None),  # a field path, but a credential's
        ("", None),
        (12, None),
        ("a" * 300, None),
    ],
)
def test_field_path(param: object, expected: str | None) -> None:
    assert field_path(param, SCRUB) == expected


def test_param_sent() -> None:
    body = {"model": "m", "messages": [], "temperature": 1}
    assert param_sent("messages[0].content", body) == "messages[0].content"
    assert param_sent("temperature", body) == "temperature"
    assert param_sent("max_completion_tokens", body) is None
    assert param_sent(None, body) is None
