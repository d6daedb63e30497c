"""Folding thinking text into `content` between `<think>` tags, for clients that only show
content (a per-model option, `think_tags: true`). Otherwise reasoning stays apart, in
`reasoning_content`, and never mixes into the answer."""

from __future__ import annotations

from typing import Any

OPEN, CLOSE = "<think>", "</think>"


def fold_message(message: dict[str, Any]) -> None:
    reasoning = message.pop("reasoning_content", None)
    if reasoning:
        message["content"] = f"{OPEN}{reasoning}{CLOSE}" + (message.get("content") or "")


class ThinkTagFolder:
    """The streaming form: opens the tag at the first thinking text, closes it before the
    first answer text (or at the end, when the answer never came)."""

    def __init__(self) -> None:
        self.open = False

    def fold(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        reasoning = delta.pop("reasoning_content", None)
        content = delta.get("content")
        text = ""
        if reasoning:
            text += ("" if self.open else OPEN) + reasoning
            self.open = True
        if self.open and (content or choice.get("finish_reason") or delta.get("tool_calls")):
            text += CLOSE
            self.open = False
        if text:
            delta["content"] = text + (content or "")
