"""The meter of a pass-through stream: usage read off the upstream's own SSE events.

The bytes go to the client as they came; the meter decodes each event once, on the side,
to take the usage the protocol reports (a door says where: `read`) and to count the text
delivered, so a stream cut before its usage is still billed for what it delivered.
"""

from __future__ import annotations

import abc
from typing import Any

import orjson

from llmrelay.metering.tokens import DeliveredTokens, TokenCounter
from llmrelay.protocol.usage import Usage
from llmrelay.providers.sse_reader import split_events


class NativeStreamMeter(abc.ABC):
    def __init__(self, counter: TokenCounter, messages: list[dict[str, Any]]) -> None:
        self.counter = counter
        self.messages = messages
        self.delivered = DeliveredTokens(counter)
        self.reported: Usage | None = None
        self.estimated = False
        self.ended = False
        """Whether the protocol's end event came (a stream without it was cut)."""
        self.final: dict[str, Any] | None = None
        """The protocol's whole answer, when its last event carries one (a Responses
        `response.completed`'s `response`): a door that keeps answers stores it."""

    def feed(self, events: bytes) -> None:
        """Whole SSE events, as they go to the client."""
        parsed, _ = split_events(events)
        for event in parsed:
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                self.read(event.event or str(data.get("type") or ""), data)

    @abc.abstractmethod
    def read(self, name: str, data: dict[str, Any]) -> None:
        """Take the usage (`self.reported`) or delivered text (`self.delivered.add`) of one
        event of the protocol."""

    def usage(self) -> Usage:
        """Reported, else counted (then `estimated` is set)."""
        if self.reported is not None:
            return self.reported
        self.estimated = True
        return Usage(self.counter.count_messages(self.messages), self.delivered.tokens)
