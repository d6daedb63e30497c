"""The meter of a pass-through stream: usage read off the upstream's own SSE events.

The bytes go to the client as they came. The meter looks into a read only when it may hold
an event it must act on at once (the usage, the end, the protocol's whole answer: each door
names their `marks`, a cheap substring test); the other reads (the text deltas, nearly all
of a stream) are kept as bytes and decoded only if the stream ends without reported usage,
to count what it delivered. So a stream that reports its usage, as upstreams do, costs one
`in` test per read here, not a JSON decode per event.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import orjson

from llmrelay.metering.tokens import DeliveredTokens, TokenCounter
from llmrelay.protocol.usage import Usage
from llmrelay.providers.sse_reader import split_events

UNREAD_LIMIT = 64 * 1024
"""Bytes of unread events a stream keeps before reading them anyway (a long answer's
memory stays bounded; its cost is then what reading every event costs)."""


class NativeStreamMeter(abc.ABC):
    marks: ClassVar[tuple[bytes, ...]]
    """Byte strings one of which is in any read that holds an event `read` must see at once
    (its name: `message_delta`, `response.completed`, `error`...). A mark that turns up in
    text only costs that read a decode."""
    quiet: ClassVar[tuple[bytes, ...]] = ()
    """How the events `read` may see late begin (`event: content_block_delta\n`): a read that
    is one such event, as a paced stream's reads are, is kept without looking for `marks`."""

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
        self._unread: list[bytes] = []
        self._unread_bytes = 0

    def marked(self, events: bytes) -> bool:
        """Whether `events` may hold one of the events `marks` names: the upstream's own
        words (usage, a stop reason, an error) rather than the model's text."""
        if events.startswith(self.quiet) and events.find(b"\n\n") == len(events) - 2:
            return False  # one text delta alone: most reads
        return any(mark in events for mark in self.marks)

    def feed(self, events: bytes) -> None:
        """Whole SSE events, as they go to the client."""
        if self.marked(events):
            self._read_events(events)
            return
        self._unread.append(events)
        self._unread_bytes += len(events)
        if self._unread_bytes > UNREAD_LIMIT:
            self._read_unread()

    def _read_unread(self) -> None:
        for events in self._unread:
            self._read_events(events)
        self._unread.clear()
        self._unread_bytes = 0

    def _read_events(self, events: bytes) -> None:
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
        self._read_unread()
        self.estimated = True
        return Usage(self.counter.count_messages(self.messages), self.delivered.tokens)
