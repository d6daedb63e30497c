"""The real embedded llama.cpp engine with the packaged SmolLM2 model, through the relay."""

from __future__ import annotations

import asyncio
import re
import subprocess

import httpx
import openai
import pytest

from tests.conftest import (
    ADMIN,
    RunningRelay,
    launch_relay,
    stop_relay,
    wait_for_text,
    wait_ready,
)

MODEL = "smollm2-135m-instruct"
SEED_MESSAGE = "你好,请介绍一下你自己"


def test_local_model_answers_with_real_token_counts(
    client: openai.OpenAI, relay: RunningRelay
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        max_tokens=12,
        temperature=0,
        messages=[
            {"role": "system", "content": "You are brief."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    )
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage.prompt_tokens > 10
    assert 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    row = relay.ledger_row(raw.headers["x-request-id"])
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert row["provider"] == "local"


def test_max_tokens_is_honoured(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        max_tokens=3,
        temperature=0,
        messages=[{"role": "user", "content": "Write a long story about dragons."}],
    )
    assert completion.usage.completion_tokens == 3
    assert completion.choices[0].finish_reason == "length"


def test_stream_equals_whole_answer_at_temperature_zero(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "What colour is the sky?"}]
    params = {"model": MODEL, "max_tokens": 80, "temperature": 0, "stop": [","]}
    whole = client.chat.completions.create(messages=messages, **params)
    assert whole.choices[0].finish_reason == "stop"
    with client.chat.completions.stream(
        **params,
        messages=messages,
        stream_options={"include_usage": True},
    ) as stream:
        pieces = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(pieces) > 1, "tokens arrive one by one"
    assert "".join(pieces) == whole.choices[0].message.content
    assert final.choices[0].message.content == whole.choices[0].message.content
    assert final.usage.completion_tokens == whole.usage.completion_tokens
    assert final.usage.prompt_tokens == whole.usage.prompt_tokens


def test_stop_sequence_cuts_the_answer(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    free = (
        client.chat.completions.create(model=MODEL, max_tokens=40, temperature=0, messages=messages)
        .choices[0]
        .message.content
    )
    assert "3" in free
    cut_at = free.index("3")
    stopped = client.chat.completions.create(
        model=MODEL, max_tokens=40, temperature=0, messages=messages, stop=["3"]
    )
    assert stopped.choices[0].message.content == free[:cut_at]
    assert stopped.choices[0].finish_reason == "stop"


def test_images_are_refused_clearly(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                        }
                    ],
                }
            ],
        )
    assert caught.value.body["param"] == "messages[0].content[0]"


async def test_relay_keeps_serving_while_the_model_generates(
    relay: RunningRelay, api_key: str
) -> None:
    client = openai.AsyncOpenAI(base_url=relay.base_url, api_key=api_key, max_retries=0)
    http = httpx.AsyncClient(base_url=relay.url)
    stream = await client.chat.completions.create(
        model=MODEL,
        max_tokens=300,
        temperature=0,
        stream=True,
        messages=[{"role": "user", "content": "Write a very long essay about the sea."}],
    )
    first = await anext(aiter(stream))
    assert first.choices[0].delta.role == "assistant"
    answers = [
        (
            await client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": f"quick {i}"}]
            )
        )
        .choices[0]
        .message.content
        for i in range(5)
    ]
    assert answers == [f"echo: quick {i}" for i in range(5)]
    local = (await http.get("/readyz", headers=ADMIN)).json()["providers"]["local"]
    assert local["in_flight"] == 1, "the quick answers came while the model was generating"
    rest = [chunk async for chunk in stream]
    assert rest[-1].choices[0].finish_reason == "length"
    await http.aclose()
    await client.close()


async def test_full_queue_answers_429_with_retry_after(relay: RunningRelay, api_key: str) -> None:
    client = openai.AsyncOpenAI(base_url=relay.base_url, api_key=api_key, max_retries=0)

    async def one() -> int:
        try:
            await client.chat.completions.create(
                model=MODEL, max_tokens=30, messages=[{"role": "user", "content": "hi"}]
            )
            return 200
        except openai.RateLimitError as exc:
            assert exc.response.headers["retry-after"] == "1"
            assert exc.body["code"] == "local_queue_full"
            return 429

    statuses = await asyncio.gather(*(one() for _ in range(12)))
    await client.close()
    assert statuses.count(200) >= 5  # one running + a queue of four
    assert statuses.count(429) >= 1


def test_zero_config_start_prints_a_curl_that_works(tmp_path) -> None:
    """`llmrelay serve` with no config: the banner's admin key and curl answer at once."""
    relay = launch_relay(tmp_path)
    try:
        banner = wait_for_text(relay.log, "curl ")
        command = banner[banner.index("curl ") :].split("\n\n")[0]
        assert SEED_MESSAGE in command and MODEL in command
        wait_ready(relay)
        result = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=120
        )
        assert '"object":"chat.completion"' in result.stdout, result.stdout + result.stderr
        assert '"finish_reason"' in result.stdout
        admin_key = re.search(r"sk-[A-Za-z0-9_-]{40,}", banner).group(0)
        assert admin_key.encode() not in (relay.data_dir / "llmrelay.db").read_bytes()
        console = re.search(r"Web console: (\S+)", banner)
        assert console is not None, banner
        assert "llmrelay" in httpx.get(console.group(1), timeout=10).text
    finally:
        stop_relay(relay)
    again = launch_relay(tmp_path, port=int(relay.url.rsplit(":", 1)[1]), log_name="again.log")
    try:
        text = wait_for_text(again.log, "curl ")
        assert admin_key not in text, "the admin key is shown only once"
        assert "keys create" in text
    finally:
        stop_relay(again)


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_longer_than_the_context_is_a_400(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL,
            stream=stream,
            messages=[{"role": "user", "content": "word " * 3000}],
        )
    assert caught.value.body["code"] == "context_length_exceeded"
