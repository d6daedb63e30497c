"""No part of an upstream credential reaches a client, the ledger or the relay's log.

A hostile upstream (tests/mocks/hostile_upstream.py) echoes the credentials the relay sent it,
whole, in part, base64- and URL-encoded, in every field of its 400, 401, 422, 429 and 500
answers and of its stream error events, for each of the three vendor wire formats. Every
response, the key's own request log, the admin request log, its CSV export and the relay's
log file are then searched for any 8-character run of each credential, as is, in any letter
case, URL-decoded or base64-decoded.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import httpx
import orjson
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.admin_support import admin_client, new_key, wait_for_records
from tests.mocks.hostile_upstream import HostileUpstream, leak_text

CREDENTIALS = {
    "openai": "sk-proj-Hx9/Qv+Tm2Lr8Wz4Yp6Nc1Kd7Bf3",  # 36 characters
    "anthropic": "sk-ant-api03-Rk5=Vd8/Wq2+Zt7Lm4Np9Xc3Bh6Jf1-Gs0Y",
    "gemini": "AIzaSyHostile-Gm7Kp2Vx9Qr4Tz6Lb1Nd8Wc3Fh",
    "header": "org-Zp4+Rk8/Ws2=Mn6Ty0Vb",  # a credential the operator put in `headers`
}
VENDORS = ("openai", "anthropic", "gemini")
FAST = {"connect": 2, "first_token": 5, "idle": 5, "total": 20}
HTTP_ERRORS = {
    "fail-400": (400, "invalid_request_error", None),
    "fail-401": (502, "upstream_error", "upstream_auth_error"),
    "fail-422": (422, "invalid_request_error", None),
    "fail-429": (429, "rate_limit_error", "rate_limit_exceeded"),
    "fail-500": (502, "upstream_error", "upstream_error"),
}
STREAM_ERRORS = ("early-error", "midstream-error")
HELLO = [{"role": "user", "content": "hello"}]


# ---- finding a credential in any form ------------------------------------------------------

WINDOW = 8
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}")


def _decoded_base64(text: str) -> Iterator[bytes]:
    """Every run of base64 characters in `text`, decoded at each of its four offsets."""
    for run in BASE64_RUN.findall(text):
        standard = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            part = standard[start:]
            yield base64.b64decode(part[: len(part) - len(part) % 4])


def leaks(text: str, credential: str) -> list[str]:
    """The 8-character runs of `credential` found in `text` (as is in any case, URL-decoded,
    or base64-decoded: 6 bytes, what 8 base64 characters hold)."""
    runs = {credential[i : i + WINDOW] for i in range(len(credential) - WINDOW + 1)}
    found = {
        run for view in (text, unquote_plus(text)) for run in runs if run.lower() in view.lower()
    }
    raw = credential.encode()
    byte_runs = {raw[i : i + 6] for i in range(len(raw) - 5)}
    found |= {run.decode() for data in _decoded_base64(text) for run in byte_runs if run in data}
    return sorted(found)


def assert_clean(where: str, text: str) -> None:
    found = {name: leaks(text, secret) for name, secret in CREDENTIALS.items()}
    assert not any(found.values()), f"{where} leaks {found}"


def test_the_hostile_upstream_leaks_every_form() -> None:
    """The check finds each form the mock sends, so a clean result means something."""
    for secret in CREDENTIALS.values():
        for form in leak_text([secret]).split(" "):
            assert leaks(form, secret), form


# ---- the relay in front of the hostile upstream ------------------------------------------------

Call = tuple[str, str, bool]
"""(vendor, scenario, stream)"""
CALLS: list[Call] = [
    *[(v, s, stream) for v in VENDORS for s in HTTP_ERRORS for stream in (False, True)],
    *[(v, s, True) for v in VENDORS for s in STREAM_ERRORS],
    *[(v, "finish-leak", stream) for v in ("anthropic", "gemini") for stream in (False, True)],
]
PARAM_CALLS = {  # what the client sent: the upstream names `temperature` or `stop`
    "temperature-sent": ("param-temperature", False, {"temperature": 0.5}),
    "temperature-not-sent": ("param-temperature", False, {}),
    "stop-sent": ("param-stop", True, {"stop": ["x"]}),
}


def model_name(vendor: str, scenario: str, stream: bool) -> str:
    return f"{vendor}-{scenario}-{'stream' if stream else 'whole'}"


def hostile_config(mock: HostileUpstream) -> dict[str, Any]:
    providers = {
        "openai": {
            "type": "openai",
            "base_url": mock.url + "/v1",
            "api_key": CREDENTIALS["openai"],
            "headers": {"x-org-token": CREDENTIALS["header"]},
        },
        "anthropic": {
            "type": "anthropic",
            "base_url": mock.url,
            "api_key": CREDENTIALS["anthropic"],
        },
        "gemini": {
            "type": "gemini",
            "base_url": mock.url + "/v1beta",
            "api_key": CREDENTIALS["gemini"],
        },
    }
    calls = CALLS + [("openai", scenario, stream) for scenario, stream, _ in PARAM_CALLS.values()]
    models = {  # one deployment per call: no breaker or rest carries over from another
        model_name(*call): {"provider": call[0], "upstream_model": call[1]} for call in calls
    }
    return {
        "providers": {name: {**p, "timeouts": FAST} for name, p in providers.items()},
        "models": models,
        "routing": {"breaker": {"failures": 1000}},
    }


@dataclass
class Hostile:
    """The relay after every call was made once against the hostile upstream."""

    relay: RunningRelay
    key: dict[str, Any]
    answers: dict[Call, httpx.Response]
    param_answers: dict[str, httpx.Response]

    @property
    def count(self) -> int:
        return len(self.answers) + len(self.param_answers)


def ask(relay: RunningRelay, key: str, model: str, stream: bool, **fields: Any) -> httpx.Response:
    body = {"model": model, "messages": HELLO, "stream": stream, **fields}
    headers = {"authorization": f"Bearer {key}"}
    url = relay.url + "/v1/chat/completions"
    return httpx.post(url, json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    mock = HostileUpstream()
    mock.start()
    relay = start_relay(
        hostile_config(mock), tmp_path_factory.mktemp("leaks"), LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    try:
        with admin_client(relay) as admin:
            key = new_key(admin)
        answers = {call: ask(relay, key["key"], model_name(*call), call[2]) for call in CALLS}
        param_answers = {
            name: ask(relay, key["key"], model_name("openai", scenario, stream), stream, **sent)
            for name, (scenario, stream, sent) in PARAM_CALLS.items()
        }
        yield Hostile(relay, key, answers, param_answers)
    finally:
        stop_relay(relay)
        mock.stop()


def the_error(response: httpx.Response) -> dict[str, Any]:
    """The error of a JSON answer, or of the last SSE frame of a stream."""
    if response.headers["content-type"].startswith("text/event-stream"):
        frames = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        return orjson.loads(frames[-1])["error"]
    return response.json()["error"]


@pytest.mark.parametrize("call", CALLS, ids=lambda call: model_name(*call))
def test_no_answer_holds_a_credential(hostile: Hostile, call: Call) -> None:
    assert_clean(model_name(*call), hostile.answers[call].text)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("scenario", list(HTTP_ERRORS))
def test_error_answers_carry_only_the_relays_own_fields(
    hostile: Hostile, scenario: str, vendor: str, stream: bool
) -> None:
    response = hostile.answers[(vendor, scenario, stream)]
    status, kind, code = HTTP_ERRORS[scenario]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (kind, code, None)


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("scenario", STREAM_ERRORS)
def test_stream_error_events_carry_only_the_relays_own_fields(
    hostile: Hostile, scenario: str, vendor: str
) -> None:
    response = hostile.answers[(vendor, scenario, True)]
    error = the_error(response)
    assert (error["type"], error["code"], error["param"]) == (
        "upstream_error",
        "upstream_error",
        None,
    )
    if scenario == "midstream-error":
        assert response.status_code == 200 and '"content":"partial"' in response.text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("vendor", ["anthropic", "gemini"])
def test_an_unknown_finish_reason_is_logged_scrubbed(
    hostile: Hostile, vendor: str, stream: bool
) -> None:
    response = hostile.answers[(vendor, "finish-leak", stream)]
    assert response.status_code == 200 and '"finish_reason":"stop"' in response.text
    log = hostile.relay.log()
    assert "unknown Anthropic stop_reason" in log and "unknown Gemini finishReason" in log
    assert_clean("the relay's log", log)


def test_param_is_kept_only_when_it_names_a_field_the_client_sent(hostile: Hostile) -> None:
    params = {name: the_error(r)["param"] for name, r in hostile.param_answers.items()}
    assert params == {
        "temperature-sent": "temperature",
        "temperature-not-sent": None,
        "stop-sent": "stop",
    }


def test_the_ledger_and_the_log_hold_no_credential(hostile: Hostile) -> None:
    relay, key = hostile.relay, hostile.key
    with admin_client(relay) as admin:
        rows = wait_for_records(admin, key["id"], hostile.count)
        codes = {row["error_code"] for row in rows}
        assert codes == {
            None,
            "invalid_request_error",
            "upstream_auth_error",
            "upstream_error",
            "rate_limit_exceeded",
        }
        assert_clean("/admin/requests", orjson.dumps(rows).decode())
        csv = admin.get("/admin/requests.csv", params={"key_id": key["id"]})
        assert csv.status_code == 200 and len(csv.text.splitlines()) == hostile.count + 1
        assert_clean("/admin/requests.csv", csv.text)
    own = httpx.get(
        relay.url + "/v1/key/requests",
        params={"limit": 1000},
        headers={"authorization": f"Bearer {key['key']}"},
    )
    assert own.status_code == 200 and len(own.json()["data"]) == hostile.count
    assert_clean("/v1/key/requests", own.text)
    log = relay.log()
    assert "failed (5xx)" in log  # the upstream failures were logged, with their messages
    assert_clean("the relay's log", log)


ANTHROPIC_CALLS = [call for call in CALLS if call[0] == "anthropic"]


@pytest.mark.parametrize("call", ANTHROPIC_CALLS, ids=lambda call: model_name(*call))
def test_a_passed_through_answer_holds_no_credential(hostile: Hostile, call: Call) -> None:
    """The Messages door to an `anthropic` provider passes the upstream's bytes on: its error
    answers, and the in-band `error` events of its streams, are scrubbed all the same.
    (Run last: its requests are not in the ledger counts above.)"""
    body = {"model": model_name(*call), "max_tokens": 20, "messages": HELLO, "stream": call[2]}
    headers = {"x-api-key": hostile.key["key"], "anthropic-version": "2023-06-01"}
    url = hostile.relay.url + "/v1/messages"
    response = httpx.post(url, json=body, headers=headers, timeout=30)
    assert_clean(f"/v1/messages {model_name(*call)}", response.text)
