"""Stop sequences in the local engine: never leak a partial match, cut exactly at a full one."""

from __future__ import annotations

from llmrelay.providers.local_engine import _StopMatcher


def feed_all(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, bool]:
    matcher = _StopMatcher(stops)
    out = []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    out.append(matcher.flush())
    return "".join(out), False


def test_stop_split_across_tokens_is_cut_cleanly() -> None:
    assert feed_all(("END",), ["Hello E", "N", "D tail"]) == ("Hello ", True)


def test_partial_match_that_fails_is_released() -> None:
    matcher = _StopMatcher(("END",))
    assert matcher.feed("Hello E") == ("Hello ", False)
    assert matcher.feed("x") == ("Ex", False)


def test_no_stop_passes_everything_through() -> None:
    assert feed_all((), ["a", "b"]) == ("ab", False)


def test_earliest_of_several_stops_wins() -> None:
    assert feed_all(("world", "lo w"), ["hello world"]) == ("hel", True)


def test_unfinished_prefix_is_flushed_at_the_end() -> None:
    assert feed_all(("STOP",), ["the ST"]) == ("the ST", False)
