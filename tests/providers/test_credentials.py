"""Which configured values are credentials, and the scrubber that hides them in any form."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from llmrelay.config import AnthropicProvider, GeminiProvider, OpenAIProvider, Settings
from llmrelay.providers.credentials import (
    Scrubber,
    all_credentials,
    hide_in_logs,
    provider_credentials,
)

KEY = "sk-test-Qx7/Lm+9pZ2wV8rT4nK6yB3cF5hJ"  # 36 characters
SCRUB = Scrubber([KEY])


@pytest.mark.parametrize(
    "form",
    [
        KEY,
        KEY[-20:],  # the tail that got through the old scrubber
        KEY[9:17],  # any 8 characters
        KEY.upper(),
        base64.b64encode(KEY.encode()).decode(),
        base64.b64encode(b"Bearer " + KEY.encode()).decode(),  # another offset
        base64.b64encode(b"ab" + KEY.encode()).decode(),  # the third offset
        base64.urlsafe_b64encode(KEY.encode()).decode(),
        quote(KEY, safe=""),
        quote_plus("Bearer " + KEY),
        quote(KEY, safe="").lower(),
    ],
    ids=lambda form: form[:12],
)
def test_every_form_of_a_credential_is_hidden(form: str) -> None:
    text = f"error: {form} was refused"
    scrubbed = SCRUB(text)
    assert "***" in scrubbed and scrubbed.startswith("error: ") and scrubbed.endswith(" refused")
    for i in range(len(KEY) - 7):
        assert KEY[i : i + 8].lower() not in scrubbed.lower()


def test_text_without_a_credential_is_left_alone() -> None:
    text = f"Invalid value for 'temperature': {KEY[:7]} is not a number. 日本語"
    assert SCRUB(text) == text
    assert Scrubber([])(text) == text
    assert Scrubber(["short"])("short") == "short"


def test_neighbouring_runs_become_one_mask() -> None:
    assert SCRUB(f"[{KEY}{KEY[-10:]}]") == "[***]"
    assert SCRUB(f"{KEY[:10]} and {KEY[-10:]}") == "*** and ***"


def test_a_large_body_is_scrubbed_whole() -> None:
    body = ("x" * 100_000 + KEY) * 20
    assert SCRUB(body) == ("x" * 100_000 + "***") * 20


@pytest.mark.parametrize(
    "secret",
    [KEY, 'pa"ss\\word-with-quotes', "tab\tseparated-secret"],
    ids=["key", "quotes", "tab"],
)
def test_json_values_are_scrubbed_in_place_at_any_depth(secret: str) -> None:
    """A whole answer is looked at once as JSON text first; a secret whose characters JSON
    escapes is still found in the strings themselves."""
    scrub = Scrubber([secret])
    value = {"type": "message", "usage": {"input_tokens": 3}, "error": [{"hint": f"<{secret}>"}]}
    assert scrub.values(value) is True
    assert value["error"] == [{"hint": "<***>"}] and value["type"] == "message"
    clean = {"type": "message", "stop_reason": "end_turn", "id": "msg_01", "n": [1, {"a": "b"}]}
    assert scrub.values(clean) is False and clean["id"] == "msg_01"


def test_a_scrubber_is_made_once_from_its_secrets() -> None:
    assert Scrubber.of(SCRUB) is SCRUB
    assert Scrubber.of([KEY])(KEY) == "***"


def test_the_credentials_of_a_provider() -> None:
    openai = OpenAIProvider(
        base_url="https://relay-user:pa55word-secret@example.com/v1?api-key=qk-0123456789&v=2",
        api_key=KEY,
        headers={
            "Authorization": "Bearer tok-abcdefghijkl",
            "OpenAI-Organization": "org-0123456789",
            "anthropic-version": "2023-06-01",
            "x-short": "abc",
        },
    )
    assert set(provider_credentials(openai)) == {
        KEY,
        "relay-user",
        "pa55word-secret",
        "qk-0123456789",
        "Bearer tok-abcdefghijkl",
        "tok-abcdefghijkl",
        "org-0123456789",
    }
    settings = Settings(
        providers={
            "a": openai,
            "b": AnthropicProvider(api_key="sk-ant-0123456789"),
            "c": GeminiProvider(api_key=None),
        }
    )
    assert "sk-ant-0123456789" in all_credentials(settings)


@pytest.fixture()
def scrubbed_logs() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    hide_in_logs(SCRUB)
    yield
    logging.setLogRecordFactory(factory)


def test_log_records_are_scrubbed(scrubbed_logs: None, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("llmrelay.test")
    log.warning("upstream said %r", {"code": KEY})
    try:
        raise ValueError(f"bad key {KEY[-20:]}")
    except ValueError:
        log.exception("request failed")
    log.warning("arguments that do not fit %s %s", KEY)
    assert "***" in caplog.text and "bad key ***" in caplog.text
    for i in range(len(KEY) - 7):
        assert KEY[i : i + 8] not in caplog.text
