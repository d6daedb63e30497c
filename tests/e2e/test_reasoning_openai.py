"""Deep thinking through OpenAI-compatible upstreams: suffixes, styles, reasoning_content."""

from __future__ import annotations

import openai
import pytest

from tests.mocks.openai_upstream import ANSWER, REASONING, MockOpenAI

HELLO = [{"role": "user", "content": "hello"}]
THOUGHT = "".join(REASONING)


def test_vllm_reasoning_field_comes_back_as_reasoning_content(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="thinker", messages=HELLO)
    message = completion.choices[0].message
    assert message.content == "".join(ANSWER)
    assert message.reasoning_content == THOUGHT
    assert completion.usage.completion_tokens_details.reasoning_tokens == 6


def test_streamed_reasoning_comes_before_the_answer(client: openai.OpenAI) -> None:
    order, thought, answer = [], [], []
    for chunk in client.chat.completions.create(model="thinker", messages=HELLO, stream=True):
        for choice in chunk.choices:
            if getattr(choice.delta, "reasoning_content", None):
                thought.append(choice.delta.reasoning_content)
                order.append("reasoning")
            if choice.delta.content:
                answer.append(choice.delta.content)
                order.append("content")
    assert "".join(thought) == THOUGHT and "".join(answer) == "".join(ANSWER)
    assert order == sorted(order, key=lambda kind: kind != "reasoning")


def test_think_tags_fold_reasoning_into_content(client: openai.OpenAI) -> None:
    folded = f"<think>{THOUGHT}</think>{''.join(ANSWER)}"
    whole = client.chat.completions.create(model="thinker-tags", messages=HELLO)
    assert whole.choices[0].message.content == folded
    assert getattr(whole.choices[0].message, "reasoning_content", None) is None
    with client.chat.completions.stream(model="thinker-tags", messages=HELLO) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == folded


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("thinker-high", {"reasoning_effort": "high"}),
        ("thinker-low", {"reasoning_effort": "low"}),
        ("thinker-thinking", {"reasoning_effort": "medium"}),
        ("thinker-nothinking", {"reasoning_effort": "none"}),
        ("deep-thinking", {"thinking": {"type": "enabled"}}),
        ("deep-nothinking", {"thinking": {"type": "disabled"}}),
        ("qwen-think-thinking-3000", {"enable_thinking": True, "thinking_budget": 3000}),
        ("qwen-think-nothinking", {"enable_thinking": False}),
    ],
)
def test_suffix_becomes_the_servers_own_spelling(
    client: openai.OpenAI, mock_openai: MockOpenAI, model: str, expected: dict
) -> None:
    completion = client.chat.completions.create(model=model, messages=HELLO)
    assert completion.model == model
    sent = mock_openai.last().body
    for field, value in expected.items():
        assert sent[field] == value, field


def test_body_reasoning_fields_pass_through_untouched(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    client.chat.completions.create(
        model="deep",
        messages=HELLO,
        reasoning_effort="high",
        extra_body={"thinking": {"type": "enabled"}},
    )
    sent = mock_openai.last().body
    assert sent["reasoning_effort"] == "high" and sent["thinking"] == {"type": "enabled"}


def test_suffix_needs_a_reasoning_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-5-thinking", messages=HELLO)
