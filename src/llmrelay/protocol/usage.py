"""Token usage in OpenAI's shape, read from whatever an upstream reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TOKENS_COUNTED = 2**31 - 1
"""No request uses more; a larger (or negative) count from an upstream is a bug or an attack."""


def _count(value: Any) -> int | None:
    """A token count as an int within [0, MAX_TOKENS_COUNTED]; None when not a number."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return min(max(value, 0), MAX_TOKENS_COUNTED)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_tokens: int | None = None
    """Prompt tokens written to the vendor's prompt cache (Anthropic prices them apart)."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        """Parse an OpenAI `usage` object; None when absent or malformed."""
        if not isinstance(usage, dict):
            return None
        prompt = _count(usage.get("prompt_tokens"))
        completion = _count(usage.get("completion_tokens"))
        if prompt is None or completion is None:
            return None
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        if not isinstance(prompt_details, dict):
            prompt_details = {}
        cached = prompt_details.get("cached_tokens")
        cache_write = prompt_details.get("cache_write_tokens")
        reasoning = (
            completion_details.get("reasoning_tokens")
            if isinstance(completion_details, dict)
            else None
        )
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=_count(cached),
            reasoning_tokens=_count(reasoning),
            cache_write_tokens=_count(cache_write),
        )

    def to_openai(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        details: dict[str, int] = {}
        if self.cached_tokens is not None:
            details["cached_tokens"] = self.cached_tokens
        if self.cache_write_tokens is not None:
            details["cache_write_tokens"] = self.cache_write_tokens
        if details:
            body["prompt_tokens_details"] = details
        if self.reasoning_tokens is not None:
            body["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return body
