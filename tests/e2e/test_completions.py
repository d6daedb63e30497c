"""`POST /v1/completions` (legacy) end to end: the openai SDK against a real relay, whole and
streamed, passed through to the OpenAI mock and served by the embedded model as raw text;
Gemini and Anthropic models refuse by name; the ledger names the door."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, admin_made_key, start_relay, stop_relay
from tests.mocks.gemini_upstream import GEMINI_KEY, MockGemini
from tests.mocks.openai_upstream import MockOpenAI

LOCAL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def mock_gemini() -> Iterator[MockGemini]:
    mock = MockGemini()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def relay(mock_openai: MockOpenAI, mock_gemini: MockGemini, tmp_path_factory) -> Iterator:
    config: dict[str, Any] = {
        "providers": {
            "mock": {
                "type": "openai",
                "base_url": mock_openai.base_url,
                "api_key": "${MOCK_UPSTREAM_KEY}",
            },
            "gemini": {"type": "gemini", "base_url": mock_gemini.base_url, "api_key": GEMINI_KEY},
            "claude": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "x"},
            "local": {"type": "local", "threads": 1},
        },
        "models": {
            "gpt-3.5-turbo-instruct": {
                "provider": "mock",
                "upstream_model": "instruct-mock",
                "price": {"input": 1000.0, "output": 1000.0},
            },
            "gemini-2.5-flash": {"provider": "gemini"},
            "claude-sonnet-4-6": {"provider": "claude"},
            LOCAL: {"provider": "local"},
        },
    }
    running = start_relay(config, tmp_path_factory.mktemp("cmpl"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def key(relay: RunningRelay) -> str:
    return admin_made_key(relay)


@pytest.fixture()
def client(relay: RunningRelay, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0) as sdk:
        yield sdk


# ---- an OpenAI-compatible upstream: passed through -------------------------------------


def test_a_whole_completion_passes_through(client, mock_openai, relay) -> None:
    raw = client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt="say this please", max_tokens=3, user="u-1"
    )
    answer = raw.parse()
    sent = mock_openai.last()
    assert sent.path == "/v1/completions"
    assert sent.body == {
        "model": "instruct-mock",
        "prompt": "say this please",
        "max_tokens": 3,
        "user": "u-1",
    }
    assert answer.object == "text_completion" and answer.id.startswith("cmpl-")
    assert answer.model == "gpt-3.5-turbo-instruct"
    assert [(c.text, c.index, c.finish_reason) for c in answer.choices] == [
        ("echo: say this", 0, "length")
    ]
    assert answer.choices[0].logprobs is None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 3)
    row = relay.ledger_row(raw.headers["x-request-id"])
    assert (row["endpoint"], row["prompt_tokens"], row["completion_tokens"]) == (
        "completions",
        3,
        3,
    )


def test_openais_default_of_16_tokens_holds(client, mock_openai) -> None:
    answer = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="w " * 40)
    assert mock_openai.last().body["max_tokens"] == 16
    assert answer.usage.completion_tokens == 16


def test_a_prompt_array_gets_a_choice_each(client) -> None:
    answer = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt=["first one", "second"], max_tokens=10
    )
    assert [(c.index, c.text) for c in answer.choices] == [
        (0, "echo: first one"),
        (1, "echo: second"),
    ]


def test_a_stream_is_text_completion_frames_then_done(client, mock_openai, relay) -> None:
    raw = client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct",
        prompt="one two three",
        max_tokens=10,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    assert mock_openai.last().body["stream_options"] == {"include_usage": True}
    assert {c.object for c in chunks} == {"text_completion"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("cmpl-")
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    row = relay.ledger_row(raw.headers["x-request-id"])
    assert (row["endpoint"], row["stream"], row["completion_tokens"]) == ("completions", 1, 4)


def test_a_stream_without_include_usage_has_no_usage_frame(client) -> None:
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="a b", max_tokens=10, stream=True
        )
    )
    assert all(chunk.choices for chunk in chunks)
    assert all(getattr(chunk, "usage", None) is None for chunk in chunks)


def test_token_prompts_pass_through(client, mock_openai) -> None:
    answer = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt=[[1, 2], [3]], max_tokens=5
    )
    assert mock_openai.last().body["prompt"] == [[1, 2], [3]]
    assert [c.text for c in answer.choices] == ["echo: t1 t2", "echo: t3"]


# ---- the budget reserves every prompt's every candidate -----------------------------------


def test_a_budget_reserves_each_prompt_and_candidate(relay) -> None:
    secret = admin_made_key(relay, budget_usd=0.5)  # 500 tokens at $0.001 each
    with openai.OpenAI(base_url=relay.base_url, api_key=secret, max_retries=0) as sdk:
        sdk.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", max_tokens=100)
        with pytest.raises(openai.RateLimitError) as refused:  # 3 x 2 x 100 output tokens
            sdk.completions.create(
                model="gpt-3.5-turbo-instruct",
                prompt=["a", "b", "c"],
                max_tokens=100,
                best_of=2,
            )
    assert refused.value.code == "insufficient_quota"


# ---- vendors without raw completions ------------------------------------------------------


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-6"])
def test_vendors_without_legacy_completions_refuse_by_name(client, model) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model=model, prompt="hi")
    assert f"'{model}' does not support legacy completions" in refused.value.message
    assert refused.value.body["param"] == "model"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"prompt": ["ok", 3]}, "prompt[1]"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "x", "logprobs": 6}, "logprobs"),
        ({"prompt": "x", "n": 2, "best_of": 1}, "best_of"),
        ({"prompt": "x", "stream": "yes"}, "stream"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(relay, key, body, param) -> None:
    response = httpx.post(
        relay.base_url + "/completions",
        json={"model": "gpt-3.5-turbo-instruct", **body},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


# ---- the embedded model: raw text, no chat template ---------------------------------------


@pytest.mark.local_model
def test_the_embedded_model_continues_raw_text(client) -> None:
    answer = client.completions.create(
        model=LOCAL, prompt="One, two, three, four,", max_tokens=8, temperature=0
    )
    choice = answer.choices[0]
    assert answer.object == "text_completion" and choice.text
    assert choice.finish_reason in ("length", "stop")
    # The prompt went in as it is: a chat template would wrap it in a system prompt and
    # role markers, many times its own few tokens.
    assert answer.usage.prompt_tokens <= 12
    assert answer.usage.completion_tokens <= 8


@pytest.mark.local_model
def test_the_embedded_model_streams_what_it_answers_whole(client) -> None:
    ask = {"model": LOCAL, "prompt": "The capital of France is", "max_tokens": 6}
    whole = client.completions.create(**ask, temperature=0)
    chunks = list(
        client.completions.create(
            **ask, temperature=0, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


@pytest.mark.local_model
@pytest.mark.parametrize(
    ("extra", "param"), [({"echo": True}, "echo"), ({"suffix": "end"}, "suffix")]
)
def test_the_embedded_model_refuses_what_it_cannot_do(client, extra, param) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model=LOCAL, prompt="hi", **extra)
    assert refused.value.body["param"] == param
