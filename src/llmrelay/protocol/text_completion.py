"""Legacy Completions (`text_completion`) answers in the relay's chat shape, and back.

Inside the relay every answer is a `chat.completion` (or its chunks), so the meter, the ledger
and the stream pump need nothing new: a legacy choice's `text` rides as the message's (or the
delta's) `content`, its `logprobs` as they came. The door turns them back
(https://platform.openai.com/docs/api-reference/completions/object).
"""

from __future__ import annotations

from typing import Any


def chat_from_text(answer: dict[str, Any]) -> dict[str, Any]:
    """A whole `text_completion` as a `chat.completion`."""
    choices = [
        {
            "index": choice.get("index", i),
            "message": {"role": "assistant", "content": choice.get("text") or ""},
            "logprobs": choice.get("logprobs"),
            "finish_reason": choice.get("finish_reason"),
        }
        for i, choice in enumerate(answer.get("choices") or ())
        if isinstance(choice, dict)
    ]
    return {**answer, "object": "chat.completion", "choices": choices}


def chunk_from_text(chunk: dict[str, Any]) -> dict[str, Any]:
    """A streamed `text_completion` frame as a `chat.completion.chunk`."""
    choices = [
        {
            "index": choice.get("index", i),
            "delta": {"content": choice.get("text") or ""},
            "logprobs": choice.get("logprobs"),
            "finish_reason": choice.get("finish_reason"),
        }
        for i, choice in enumerate(chunk.get("choices") or ())
        if isinstance(choice, dict)
    ]
    return {**chunk, "object": "chat.completion.chunk", "choices": choices}


def text_choice(choice: dict[str, Any], text: str | None) -> dict[str, Any]:
    """A legacy choice from a chat choice and its text."""
    return {
        "text": text or "",
        "index": choice.get("index", 0),
        "logprobs": choice.get("logprobs"),
        "finish_reason": choice.get("finish_reason"),
    }
