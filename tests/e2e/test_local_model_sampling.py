"""What a request may ask of the real embedded model besides plain text, through the relay with
the openai SDK: JSON output (`response_format`), `logit_bias`, `logprobs`, `n`, and text cut
by `max_tokens` in the middle of a character. llama.cpp's own server tests are the reference
(tools/server/tests/unit/test_chat_completion.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from llama_cpp import Llama

from llmrelay.providers.local_engine import packaged_model_path

pytestmark = pytest.mark.local_model

MODEL = "smollm2-135m-instruct"
SEED_MESSAGE = "你好,请介绍一下你自己"
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in JSON."}]
AS_JSON = [{"role": "user", "content": "Give me the capital of France as JSON."}]
"""Left to itself the model answers this with a markdown fence and runs past 40 tokens."""
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "pet": {"enum": ["cat", "dog", "fish"]},
        "tags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3},
    },
    "required": ["name", "pet", "tags"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def vocab() -> Iterator[Llama]:
    """The packaged model's tokenizer, to name tokens in `logit_bias`."""
    llm = Llama(model_path=packaged_model_path(), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def streamed(client: openai.OpenAI, **params: Any) -> list[Any]:
    return list(client.chat.completions.create(model=MODEL, stream=True, **params))


def streamed_text(chunks: list[Any], index: int = 0) -> str:
    return "".join(
        c.choices[0].delta.content or ""
        for c in chunks
        if c.choices and c.choices[0].index == index
    )


@pytest.mark.parametrize("stream", [False, True])
def test_json_object_answers_a_json_object(client: openai.OpenAI, stream: bool) -> None:
    params = {
        "messages": AS_JSON,
        "response_format": {"type": "json_object"},
        "max_tokens": 40,
        "temperature": 0,
    }
    if stream:
        text = streamed_text(streamed(client, **params))
    else:
        text = client.chat.completions.create(model=MODEL, **params).choices[0].message.content
    assert isinstance(json.loads(text), dict), text


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_answer_follows_the_schema(client: openai.OpenAI, stream: bool) -> None:
    params = {
        "messages": [{"role": "user", "content": "Describe a person and their pet."}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON, "strict": True},
        },
        "max_tokens": 60,
        "temperature": 0.8,
        "seed": 3,
    }
    if stream:
        text = streamed_text(streamed(client, **params))
    else:
        text = client.chat.completions.create(model=MODEL, **params).choices[0].message.content
    person = json.loads(text)
    assert set(person) == {"name", "pet", "tags"}, text
    assert isinstance(person["name"], str) and len(person["name"]) <= 12
    assert person["pet"] in ("cat", "dog", "fish")
    assert isinstance(person["tags"], list) and len(person["tags"]) <= 3
    assert all(isinstance(tag, bool) for tag in person["tags"])


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object", "schema": {"const": "42"}}, '"42"'),
        ({"type": "json_schema", "json_schema": {"schema": {"const": "foooooo"}}}, '"foooooo"'),
        ({"type": "json_object", "schema": {"items": [{"type": "integer"}]}}, r"^\[ ?-?\d+ ?\]"),
        ({"type": "text"}, r"."),
    ],
)
def test_response_formats_of_llama_cpp_server_tests(
    client: openai.OpenAI, response_format: dict[str, Any], expected: str
) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are a coding assistant."},
            {"role": "user", "content": "Write an example"},
        ],
        response_format=response_format,
        max_tokens=10,
        temperature=0,  # greedy: a sampled integer may run past the 10 tokens ("[201804101")
    )
    assert re.search(expected, completion.choices[0].message.content)


@pytest.mark.parametrize(
    ("response_format", "param"),
    [
        ({"type": "sound"}, "response_format.type"),
        ({"type": "json_object", "schema": 123}, "response_format.schema"),
        ({"type": "json_object", "schema": {"type": 123}}, "response_format.schema"),
        ({"type": "json_object", "schema": {"type": "hiccup"}}, "response_format.schema"),
        ({"type": "json_schema", "json_schema": "x"}, "response_format.json_schema"),
        (
            {"type": "json_schema", "json_schema": {"schema": {"$ref": "#/nowhere"}}},
            "response_format.json_schema.schema",
        ),
    ],
)
def test_a_format_the_model_cannot_follow_is_a_400(
    client: openai.OpenAI, response_format: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, response_format=response_format, max_tokens=5
        )
    assert caught.value.body["param"] == param


def first_token(client: openai.OpenAI, **params: Any) -> bytes:
    completion = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=3, temperature=0, logprobs=True, **params
    )
    return bytes(completion.choices[0].logprobs.content[0].bytes)


def test_logit_bias_bans_a_token(client: openai.OpenAI, vocab: Llama) -> None:
    usual = first_token(client)
    [token] = vocab.tokenize(usual, add_bos=False, special=False)
    assert first_token(client, logit_bias={str(token): -100}) != usual


def test_logit_bias_forces_a_token(client: openai.OpenAI, vocab: Llama) -> None:
    [token] = vocab.tokenize(b" ocean", add_bos=False, special=False)
    completion = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=4, logit_bias={str(token): 100}
    )
    assert completion.choices[0].message.content == " ocean" * 4


@pytest.mark.parametrize(
    "logit_bias", [{"49152": 5}, {"-1": 5}, {"hello": 5}, {"12": 101}, {"12": "x"}]
)
def test_a_bad_logit_bias_is_a_400(client: openai.OpenAI, logit_bias: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, max_tokens=3, logit_bias=logit_bias
        )
    assert caught.value.body["param"] == "logit_bias"


def check_logprobs(entries: list[Any], text: str, top: int) -> None:
    assert entries
    assert "".join(entry.token for entry in entries) == text
    for entry in entries:
        assert entry.logprob <= 0.0
        assert bytes(entry.bytes).decode() == entry.token
        ranked = [alternative.logprob for alternative in entry.top_logprobs]
        assert len(ranked) == top and ranked == sorted(ranked, reverse=True)
        assert entry.logprob == ranked[0], "at temperature 0 the likeliest token is chosen"


def test_logprobs_of_a_whole_answer(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=5, temperature=0, logprobs=True, top_logprobs=3
    )
    choice = completion.choices[0]
    check_logprobs(choice.logprobs.content, choice.message.content, 3)


def test_logprobs_of_a_stream(client: openai.OpenAI) -> None:
    chunks = streamed(
        client, messages=QUESTION, max_tokens=5, temperature=0, logprobs=True, top_logprobs=2
    )
    entries = [
        entry
        for chunk in chunks
        if chunk.choices and chunk.choices[0].logprobs
        for entry in chunk.choices[0].logprobs.content
    ]
    check_logprobs(entries, streamed_text(chunks), 2)


def test_top_logprobs_without_logprobs_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=3, top_logprobs=2)
    assert caught.value.body["param"] == "top_logprobs"


def test_n_gives_n_choices(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Write a long story about dragons."}],
        max_tokens=4,
        n=3,
        seed=11,
    )
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    assert all(choice.message.content for choice in completion.choices)
    assert all(choice.finish_reason == "length" for choice in completion.choices)
    assert completion.usage.completion_tokens == 3 * 4


def test_n_streams_n_choices(client: openai.OpenAI) -> None:
    chunks = streamed(
        client,
        messages=[{"role": "user", "content": "Write a long story about dragons."}],
        max_tokens=4,
        n=2,
        stream_options={"include_usage": True},
    )
    for index in (0, 1):
        own = [c.choices[0] for c in chunks if c.choices and c.choices[0].index == index]
        assert own[0].delta.role == "assistant"
        assert own[-1].finish_reason == "length"
        assert streamed_text(chunks, index)
    assert chunks[-1].usage.completion_tokens == 2 * 4


def test_too_many_choices_is_a_400_naming_n(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=3, n=17)
    assert caught.value.body["param"] == "n"


def test_a_stream_begins_with_a_role_only_chunk(client: openai.OpenAI) -> None:
    chunks = streamed(client, messages=QUESTION, max_tokens=3)
    first = chunks[0].choices[0]
    assert (first.delta.role, first.delta.content) == ("assistant", "")
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)


@pytest.mark.parametrize("stream", [False, True])
def test_chinese_cut_by_max_tokens_never_ends_in_a_replacement_character(
    client: openai.OpenAI, stream: bool
) -> None:
    messages = [{"role": "user", "content": SEED_MESSAGE}]
    for max_tokens in range(1, 13):
        params = {"messages": messages, "max_tokens": max_tokens, "temperature": 0}
        if stream:
            text = streamed_text(streamed(client, **params))
        else:
            reply = client.chat.completions.create(model=MODEL, **params)
            text = reply.choices[0].message.content
        assert "\ufffd" not in text, (max_tokens, text)


def test_text_that_might_begin_a_stop_sequence_is_kept_when_the_answer_ends(
    client: openai.OpenAI,
) -> None:
    messages = [{"role": "user", "content": "Name the capital of France."}]
    free = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=30, temperature=0
    ).choices[0]
    assert free.finish_reason == "stop" and free.message.content.endswith(".")
    held = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=30, temperature=0, stop=[".\n\nNever"]
    ).choices[0]
    assert held.message.content == free.message.content


def test_a_request_without_a_seed_does_not_reuse_the_last_one(client: openai.OpenAI) -> None:
    params = {
        "messages": [{"role": "user", "content": "Write a poem."}],
        "max_tokens": 8,
        "temperature": 2,
    }
    seeded = client.chat.completions.create(model=MODEL, seed=5, **params)
    unseeded = [client.chat.completions.create(model=MODEL, **params) for _ in range(3)]
    answers = {reply.choices[0].message.content for reply in unseeded}
    assert answers != {seeded.choices[0].message.content}
