"""Which models one request may go to, in order, and the answers that send it elsewhere.

A request starts on the model the client asked for, then its `default` fallbacks (each tried
once all deployments of the one before failed). When an upstream refuses the request itself,
as too long for the model's context or as filtered (`upstream_errors.refusal_kind`), retrying
the same model cannot help: the request leaves that model at once for the asked-for model's
fallbacks of that kind, if it has any; otherwise the client gets the refusal unchanged.

A content filter may also refuse with a 200: an answer whose every choice ended
`content_filter` before any content (Gemini's blocked prompt, Azure's filtered answer). With
`content_filter` fallbacks, that answer is dropped and the request moves on the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from llmrelay.providers.upstream_errors import RefusalKind
from llmrelay.routing.catalog import ModelEntry

CONTENT_FIELDS = ("content", "reasoning_content", "tool_calls", "function_call", "refusal")
"""Any of these set means the model produced something: not a bare filter refusal."""


class FallbackWalk:
    """The models left for one request; each is entered at most once."""

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry
        self._queue: deque[ModelEntry] = deque([entry, *entry.fallbacks])
        self._entered: set[int] = set()

    def next_model(self) -> ModelEntry | None:
        while self._queue:
            model = self._queue.popleft()
            if id(model) not in self._entered:
                self._entered.add(id(model))
                return model
        return None

    def targets(self, kind: RefusalKind) -> list[ModelEntry]:
        """The asked-for model's fallbacks for `kind` not entered yet that may take traffic."""
        return [
            model
            for model in self.entry.refusal_fallbacks.get(kind, ())
            if id(model) not in self._entered
            and any(d.breaker.available() for d in model.deployments)
        ]

    def divert(self, kind: RefusalKind) -> bool:
        """Go on with the `kind` fallbacks only (the rest of the walk is dropped); False, and
        nothing changes, when there is none to go to."""
        targets = self.targets(kind)
        if targets:
            self._queue = deque(targets)
        return bool(targets)


def _has_content(part: Any) -> bool:
    return isinstance(part, dict) and any(part.get(name) for name in CONTENT_FIELDS)


def _filtered_only(choices: Iterable[Any], key: str) -> bool:
    """Some choice ended `content_filter`, and no choice carries any content."""
    choices = [c for c in choices if isinstance(c, dict)]
    filtered = any(c.get("finish_reason") == "content_filter" for c in choices)
    return filtered and not any(_has_content(c.get(key)) for c in choices)


def refused_answer(result: object) -> RefusalKind | None:
    """`content_filter` for a whole `chat.completion`, or a stream's first batch of chunks
    (`first_batch`), that is only a content filter's refusal; else None."""
    if isinstance(result, dict):
        choices = result.get("choices")
        if isinstance(choices, list) and _filtered_only(choices, "message"):
            return "content_filter"
        return None
    batch = getattr(result, "first_batch", None)
    if not isinstance(batch, list):
        return None
    choices = [c for chunk in batch if isinstance(chunk, dict) for c in chunk.get("choices") or ()]
    return "content_filter" if _filtered_only(choices, "delta") else None
