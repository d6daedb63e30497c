"""The OpenAPI document's patterns, enums and bounds are the ones the API enforces: for each
sample, the document admits it exactly when the API accepts it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.admin_support import admin_client, priced_config
from tests.mocks.openai_upstream import MockOpenAI

TODAY = datetime.now(UTC).date()
TIMES = (
    ["0", "1764000000", "1764000000.25", "2026-11-25"],
    ["-5", "1e9", "1_000", "\u0663", "nan", "2026-W48-3", "2026/11/25", " 5", "2026-11-25T00:00"],
)
"""(accepted, refused) values of `start` and `end`: Unix seconds or YYYY-MM-DD, no other
spelling Python's `float` or `date.fromisoformat` would take."""
DATES = ["20260101", "2026-W01-1", "2026-1-1", "2026-01-01T00:00", "\u0662\u0660\u0662\u0666-01-01"]

QUERY_SAMPLES = [
    ("/admin/usage", "start", *TIMES),
    ("/admin/usage", "end", *TIMES),
    (
        "/admin/usage",
        "group_by",
        ["day", "day,model", "hour,key,model", "model,model"],
        ["day, model", "daymodel", "day,,model", ",", "week", "Day"],
    ),
    ("/v1/dashboard/billing/usage", "start_date", [TODAY.replace(day=1).isoformat()], DATES),
    ("/v1/dashboard/billing/usage", "end_date", [(TODAY + timedelta(days=1)).isoformat()], DATES),
    ("/admin/requests", "limit", ["1", "1000"], ["0", "1001"]),
    ("/admin/requests", "status", ["ok", "error"], ["failed", "OK"]),
    ("/admin/keys", "status", ["active", "revoked"], ["deleted", "Active"]),
]
BODY_SAMPLES = [
    ("name", [" padded ", "a"], ["   ", "\t"]),
    (
        "allowed_ips",
        ["10.0.0.0/8", "192.168.1.7", "::1", "2001:db8::/32", "::ffff:192.0.2.1"],
        [
            " 10.0.0.0/8", "10.0.0.0/8\n", "10.0.0.0/255.0.0.0", "fe80::1%eth0", "010.0.0.1",
            "10.0.0.0/33", "localhost",
        ],
    ),
    ("models", ["priced", "priced-latest"], ["gpt-9", "PRICED"]),
    ("budget_period", ["daily"], ["yearly"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def priced(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = start_relay(
        priced_config(mock_openai), tmp_path_factory.mktemp("openapi"), LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def admin(priced: RunningRelay) -> Iterator[httpx.Client]:
    with admin_client(priced) as client:
        yield client


@pytest.fixture(scope="module")
def document(admin: httpx.Client) -> dict[str, Any]:
    return admin.get("/admin/openapi.json").json()


def admits(schema: dict[str, Any], value: str) -> bool:
    """Whether `schema` (a string's, or an integer query parameter's) admits `value`."""
    if "enum" in schema:
        return value in schema["enum"]
    if schema.get("type") == "integer":
        number = int(value) if value.isascii() and value.isdigit() else None
        return number is not None and schema["minimum"] <= number <= schema["maximum"]
    # ECMA-262's `$` (no multiline flag) matches only at the very end, as Python's `\Z`.
    pattern = schema["pattern"]
    return re.search(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern, value) is not None


def query_schema(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    parameters = document["paths"][path]["get"]["parameters"]
    [schema] = [p["schema"] for p in parameters if p["name"] == name]
    return schema


def body_schema(document: dict[str, Any], field: str) -> dict[str, Any]:
    schema = document["components"]["schemas"]["KeyCreate"]["properties"][field]
    return schema.get("items", schema)


def samples(table: list[tuple]) -> list[tuple]:
    return [
        (*where, value, accepted)
        for *where, good, bad in table
        for accepted, values in ((True, good), (False, bad))
        for value in values
    ]


@pytest.mark.parametrize(("path", "name", "value", "accepted"), samples(QUERY_SAMPLES))
def test_query_parameters_are_checked_as_documented(
    admin: httpx.Client, document: dict, path: str, name: str, value: str, accepted: bool
) -> None:
    assert admits(query_schema(document, path, name), value) is accepted
    response = admin.get(path, params={name: value})
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == name


@pytest.mark.parametrize(("field", "value", "accepted"), samples(BODY_SAMPLES))
def test_key_fields_are_checked_as_documented(
    admin: httpx.Client, document: dict, field: str, value: str, accepted: bool
) -> None:
    assert admits(body_schema(document, field), value) is accepted
    is_list = field in ("allowed_ips", "models")
    body = {"name": "k-" + secrets.token_hex(4), field: [value] if is_list else value}
    response = admin.post("/admin/keys", json=body)
    if accepted:
        assert response.status_code == 201, response.text
        admin.delete(f"/admin/keys/{response.json()['id']}").raise_for_status()
    else:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"].startswith(field)
