"""From the local model's tokens to the text a client receives.

Tokens are bytes, and a character may be split across two of them (most CJK characters are, in
a byte-level vocabulary): the bytes are decoded incrementally, so a character goes out once it is
whole, and an unfinished one at the end of a generation is dropped, never sent as U+FFFD. Text
that may be the start of a stop sequence is held back until it is known not to be one.
"""

from __future__ import annotations

import codecs


class StopMatcher:
    """Holds back text that may be the start of a stop sequence; cuts at a full match."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Returns (text safe to emit now, whether a stop sequence was met)."""
        self.pending += text
        if not self.stops:
            out, self.pending = self.pending, ""
            return out, False
        cut = min((i for s in self.stops if (i := self.pending.find(s)) >= 0), default=-1)
        if cut >= 0:
            out, self.pending = self.pending[:cut], ""
            return out, True
        hold = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        split = len(self.pending) - hold
        out, self.pending = self.pending[:split], self.pending[split:]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class TextAssembler:
    """Token bytes in, final text out."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        # "replace" only for bytes that can never be UTF-8; a character cut short waits.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.matcher = StopMatcher(stops)

    def feed(self, data: bytes) -> tuple[str, bool]:
        """(text safe to send now, whether a stop sequence was met: then nothing follows)."""
        return self.matcher.feed(self.decoder.decode(data))

    def finish(self) -> str:
        """The text held back at the end, without an unfinished last character."""
        return self.matcher.flush()
