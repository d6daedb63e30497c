"""What an answer used: the upstream's own count when it reports one, else the relay's.

Every door's answer passes a meter, whatever protocol it goes out in. A whole answer is read
once; a stream is watched chunk by chunk (`StreamMeter`), taking the usage the upstream
reports (usually in its last chunk) and counting the delivered text as it goes, so that a
stream that reports nothing, or is cut, is still billed for what it delivered.
"""

from __future__ import annotations

from typing import Any

from llmrelay.metering.tokens import DeliveredTokens, TokenCounter
from llmrelay.protocol.usage import Usage


class StreamMeter:
    """Watches a stream's internal chunks: takes the upstream's usage off them (the door
    decides whether its client sees it) and counts what they deliver."""

    def __init__(self, counter: TokenCounter, messages: list[dict[str, Any]]) -> None:
        self.counter = counter
        self.messages = messages
        self.delivered = DeliveredTokens(counter)
        self.reported: dict[str, Any] | None = None
        """The upstream's usage as it sent it (OpenAI's shape, details included)."""
        self.estimated = False

    def observe(self, chunk: dict[str, Any]) -> None:
        usage = chunk.pop("usage", None)
        if isinstance(usage, dict):
            self.reported = usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                self.delivered.add_delta(delta)

    def usage(self) -> Usage | None:
        """The stream's usage: reported, else counted (then `estimated` is set, and `reported`
        holds the count in OpenAI's shape for doors that pass usage on)."""
        reported = Usage.from_openai(self.reported)
        if reported is not None:
            return reported
        counted = Usage(self.counter.count_messages(self.messages), self.delivered.tokens)
        self.reported, self.estimated = counted.to_openai(), True
        return counted


def whole_usage(
    counter: TokenCounter, messages: list[dict[str, Any]], answer: dict[str, Any]
) -> tuple[Usage, bool]:
    """A whole `chat.completion`'s usage, and whether the relay had to count it itself."""
    reported = Usage.from_openai(answer.get("usage"))
    if reported is not None:
        return reported, False
    delivered = DeliveredTokens(counter)
    for choice in answer.get("choices") or ():
        delivered.add_delta(choice.get("message") or {})
    return Usage(counter.count_messages(messages), delivered.tokens), True


def prompt_only_usage(counter: TokenCounter, messages: list[dict[str, Any]]) -> Usage:
    """What a request costs when its client left before any answer: the upstream has the
    prompt, and bills it."""
    return Usage(counter.count_messages(messages), 0)
