"""`GET /openapi.json` describes every route the relay serves, for anyone, and names no model
(the admin key's `/admin/openapi.json` does)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from llmrelay.app import RelayApp
from llmrelay.config import parse_settings
from llmrelay.relay import open_relay_state
from tests.conftest import RunningRelay
from tests.e2e.newcomer import unreachable_upstream_config

NOT_SERVED_YET: set[str] = set()
"""Routes documented before they are served (none)."""
PATH_PARAM = re.compile(r"\{(\w+)(:\w+)?\}")


def served_routes(directory: Path) -> set[tuple[str, str]]:
    """(path, method) of every route a relay's app answers, its doors included."""
    settings = parse_settings(
        {**unreachable_upstream_config(), "server": {"data_dir": str(directory)}}
    )
    app = RelayApp(open_relay_state(settings, None))
    try:
        routes = {(path, "post") for path in app.doors}
        for route in app.routes.router.routes:
            assert isinstance(route, Route)
            path = PATH_PARAM.sub(r"{\1}", route.path)
            path = path.rstrip("/") or "/"
            routes |= {(path, m.lower()) for m in route.methods or () if m != "HEAD"}
        return routes
    finally:
        app.relay.engine.dispose()


@pytest.fixture(scope="module")
def document(relay: RunningRelay) -> dict:
    answer = httpx.get(relay.url + "/openapi.json", timeout=10)  # no key
    assert answer.status_code == 200
    return answer.json()


def test_every_route_served_is_described(document: dict, tmp_path: Path) -> None:
    described = {
        (path.rstrip("/") or "/", method)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete", "put")
    }
    served = served_routes(tmp_path)
    assert served - described == set(), "routes the document leaves out"
    unserved = {path for path, _ in described - served}
    assert unserved <= NOT_SERVED_YET, "routes the document describes but nothing serves"


def test_the_doors_are_described_as_the_relay_checks_them(document: dict) -> None:
    assert document["openapi"] == "3.1.0"
    chat = document["paths"]["/v1/chat/completions"]["post"]
    body = chat["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["model", "messages"]
    assert body["properties"]["temperature"]["maximum"] == 2
    assert body["properties"]["stop"]["anyOf"][1]["maxItems"] == 4
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert "x-request-id" in chat["responses"]["200"]["headers"]
    assert {"400", "401", "404", "429", "502", "503", "504"} <= set(chat["responses"])
    assert "/admin/keys" in document["paths"] and "/v1/key/usage" in document["paths"]


def test_the_public_document_names_no_model(document: dict) -> None:
    """The relay's model names are for its keys to list; the document shows the shapes."""
    text = str(document)
    for name in ("smollm2-135m-instruct", "tools-model", "qwen-think", "breaks-midstream"):
        assert name not in text
