"""`POST /v1/embeddings` end to end: the openai SDK against a real relay in front of the
OpenAI mock (passed through), the Gemini mock (`batchEmbedContents`) and the embedded
all-MiniLM-L6-v2; budgets charge the input only, and the ledger names the door."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, admin_made_key, start_relay, stop_relay
from tests.mocks.gemini_upstream import GEMINI_KEY, MockGemini, gemini_vector
from tests.mocks.openai_legacy import mock_vector
from tests.mocks.openai_upstream import MockOpenAI

PRICE_PER_TOKEN = 0.001  # $1000 per million input tokens


@pytest.fixture(scope="module")
def mock_gemini() -> Iterator[MockGemini]:
    mock = MockGemini()
    mock.start()
    yield mock
    mock.stop()


def embeddings_config(openai_mock: MockOpenAI, gemini: MockGemini) -> dict[str, Any]:
    return {
        "providers": {
            "mock": {
                "type": "openai",
                "base_url": openai_mock.base_url,
                "api_key": "${MOCK_UPSTREAM_KEY}",
            },
            "gemini": {"type": "gemini", "base_url": gemini.base_url, "api_key": GEMINI_KEY},
            "claude": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "x"},
            "minilm": {"type": "local-embeddings", "threads": 1},
        },
        "models": {
            "text-embedding-3-small": {
                "provider": "mock",
                "upstream_model": "emb-mock",
                "price": {"input": PRICE_PER_TOKEN * 1e6, "output": 1e6},
            },
            "picky-embedder": {"provider": "mock", "upstream_model": "bad-request"},
            "gemini-embedding-001": {"provider": "gemini"},
            "claude-sonnet-4-6": {"provider": "claude"},
            "all-minilm-l6-v2": {"provider": "minilm"},
        },
    }


@pytest.fixture(scope="module")
def relay(mock_openai: MockOpenAI, mock_gemini: MockGemini, tmp_path_factory) -> Iterator:
    config = embeddings_config(mock_openai, mock_gemini)
    running = start_relay(config, tmp_path_factory.mktemp("emb"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def key(relay: RunningRelay) -> str:
    return admin_made_key(relay)


@pytest.fixture()
def client(relay: RunningRelay, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0) as sdk:
        yield sdk


def post(relay: RunningRelay, key: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    return httpx.post(relay.base_url + "/embeddings", json=body, headers=headers, timeout=30)


def float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# ---- OpenAI-compatible upstream: passed through -----------------------------------------


def test_the_sdk_default_base64_reaches_the_client_decoded(client, mock_openai) -> None:
    answer = client.embeddings.create(model="text-embedding-3-small", input="hello big world")
    assert mock_openai.last().path == "/v1/embeddings"
    assert mock_openai.last().body["encoding_format"] == "base64"  # the SDK's default
    assert mock_openai.last().body["model"] == "emb-mock"
    assert answer.model == "text-embedding-3-small"
    assert answer.data[0].embedding == float32(mock_vector("hello big world"))
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == 3


def test_float_and_base64_on_the_wire(relay, key) -> None:
    as_floats = post(relay, key, {"model": "text-embedding-3-small", "input": "hi there"})
    assert as_floats.status_code == 200, as_floats.text
    body = as_floats.json()
    assert body["object"] == "list" and body["data"][0]["object"] == "embedding"
    assert body["data"][0]["embedding"] == mock_vector("hi there")
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    as_base64 = post(
        relay,
        key,
        {"model": "text-embedding-3-small", "input": "hi there", "encoding_format": "base64"},
    ).json()
    raw = base64.b64decode(as_base64["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == float32(mock_vector("hi there"))


def test_a_batch_keeps_its_order_and_dimensions_pass_through(client, mock_openai) -> None:
    texts = ["one", "two words", "and three words"]
    answer = client.embeddings.create(
        model="text-embedding-3-small", input=texts, dimensions=4, encoding_format="float"
    )
    assert mock_openai.last().body["dimensions"] == 4
    assert [item.index for item in answer.data] == [0, 1, 2]
    assert [item.embedding for item in answer.data] == [mock_vector(t, 4) for t in texts]
    assert answer.usage.prompt_tokens == 6


def test_token_arrays_pass_through_to_an_openai_compatible_upstream(client, mock_openai) -> None:
    answer = client.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]])
    assert mock_openai.last().body["input"] == [[1, 2, 3], [4, 5]]
    assert answer.data[1].embedding == float32(mock_vector([4, 5]))
    assert answer.usage.prompt_tokens == 5


def test_an_upstream_refusal_is_the_clients_400(client) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="picky-embedder", input="x")
    assert refused.value.status_code == 400


# ---- Gemini: batchEmbedContents ----------------------------------------------------------


def test_gemini_embeds_through_batch_embed_contents(client, mock_gemini) -> None:
    texts = ["first text", "second"]
    answer = client.embeddings.create(model="gemini-embedding-001", input=texts, dimensions=3)
    sent = mock_gemini.last()
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.body == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": text}]},
                "outputDimensionality": 3,
            }
            for text in texts
        ]
    }
    assert [d.embedding for d in answer.data] == [float32(gemini_vector(t, 3)) for t in texts]
    assert answer.usage.prompt_tokens > 0  # Gemini reports none: the relay counted


def test_gemini_refuses_token_arrays_by_name(client) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="gemini-embedding-001", input=[[1, 2, 3]])
    assert refused.value.body["param"] == "input"


# ---- the embedded model -----------------------------------------------------------------


def test_the_embedded_model_is_semantic(client) -> None:
    texts = [
        "A man is playing a guitar.",
        "Someone is strumming a guitar.",
        "The central bank raised interest rates.",
    ]
    answer = client.embeddings.create(model="all-minilm-l6-v2", input=texts)
    vectors = [item.embedding for item in answer.data]
    assert [len(v) for v in vectors] == [384] * 3
    assert math.sqrt(sum(x * x for x in vectors[0])) == pytest.approx(1.0, abs=1e-3)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3
    assert answer.usage.prompt_tokens >= 3 * 5  # WordPiece tokens, [CLS] and [SEP] included


def test_the_embedded_model_has_no_other_dimensions_and_no_token_arrays(client) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="all-minilm-l6-v2", input="x", dimensions=128)
    assert refused.value.body["param"] == "dimensions"
    same = client.embeddings.create(model="all-minilm-l6-v2", input="x", dimensions=384)
    assert len(same.data[0].embedding) == 384
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="all-minilm-l6-v2", input=[101, 102])
    assert refused.value.body["param"] == "input"


def test_an_embedding_model_is_no_chat_model_and_back(client) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="all-minilm-l6-v2", messages=[{"role": "user", "content": "hi"}]
        )
    assert "does not support chat" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="claude-sonnet-4-6", input="hi")
    assert "does not support embeddings" in refused.value.message
    assert refused.value.body["param"] == "model"


# ---- checks as OpenAI's ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": ""}, "input[0]"),
        ({"input": ["ok", ""]}, "input[1]"),
        ({"input": []}, "input"),
        ({"input": ["x"] * 2049}, "input"),
        ({"input": [1, "x"]}, "input[0]"),
        ({"input": 5}, "input"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": [[]]}, "input[0]"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(relay, key, body, param) -> None:
    response = post(relay, key, {"model": "text-embedding-3-small", **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


# ---- budgets and the ledger -------------------------------------------------------------


def test_a_budget_pays_for_the_input_only(relay) -> None:
    budget = 0.05  # 50 input tokens: far less than any output reservation would take
    secret = admin_made_key(relay, budget_usd=budget)
    with openai.OpenAI(base_url=relay.base_url, api_key=secret, max_retries=0) as sdk:
        raw = sdk.embeddings.with_raw_response.create(
            model="text-embedding-3-small", input=["four words in here", "and two"]
        )
    assert float(raw.headers["x-llmrelay-cost-usd"]) == pytest.approx(6 * PRICE_PER_TOKEN)
    row = relay.ledger_row(raw.headers["x-request-id"])
    assert row["endpoint"] == "embeddings"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (6, 0)
    assert row["cost_usd"] == pytest.approx(6 * PRICE_PER_TOKEN)
    standing = httpx.get(relay.url + "/v1/key", headers={"authorization": f"Bearer {secret}"})
    assert standing.json()["budget_remaining_usd"] == pytest.approx(budget - 6 * PRICE_PER_TOKEN)


def test_a_spent_budget_refuses_embeddings(relay) -> None:
    secret = admin_made_key(relay, budget_usd=0.000001)
    sdk = openai.OpenAI(base_url=relay.base_url, api_key=secret, max_retries=0)
    with sdk, pytest.raises(openai.RateLimitError) as refused:
        sdk.embeddings.create(model="text-embedding-3-small", input="a few words")
    assert refused.value.code == "insufficient_quota"


def test_every_row_names_the_embeddings_door(relay, key) -> None:
    response = post(relay, key, {"model": "all-minilm-l6-v2", "input": "hello"})
    row = relay.ledger_row(response.headers["x-request-id"])
    assert (row["endpoint"], row["status"], row["provider"]) == ("embeddings", 200, "minilm")
    refused = post(relay, key, {"model": "text-embedding-3-small", "input": ""})
    row = relay.ledger_row(refused.headers["x-request-id"])
    assert (row["endpoint"], row["status"]) == ("embeddings", 400)
