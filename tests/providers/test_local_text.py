"""From the local model's token bytes to text: stop sequences never leak a partial match and
cut exactly at a full one; a character split across tokens goes out whole, or not at all."""

from __future__ import annotations

from llmrelay.providers.local_text import StopMatcher, TextAssembler


def feed_all(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
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
    matcher = StopMatcher(("END",))
    assert matcher.feed("Hello E") == ("Hello ", False)
    assert matcher.feed("x") == ("Ex", False)


def test_no_stop_passes_everything_through() -> None:
    assert feed_all((), ["a", "b"]) == ("ab", False)


def test_earliest_of_several_stops_wins() -> None:
    assert feed_all(("world", "lo w"), ["hello world"]) == ("hel", True)


def test_unfinished_prefix_is_flushed_at_the_end() -> None:
    assert feed_all(("STOP",), ["the ST"]) == ("the ST", False)


def test_a_character_split_across_tokens_goes_out_whole() -> None:
    text = TextAssembler(())
    assert text.feed("你".encode()[:2]) == ("", False)
    assert text.feed("你".encode()[2:] + "好".encode()[:1]) == ("你", False)
    assert text.feed("好".encode()[1:]) == ("好", False)


def test_a_character_cut_at_the_end_is_dropped_not_replaced() -> None:
    text = TextAssembler(())
    assert text.feed("介绍".encode()[:4]) == ("介", False)
    assert text.finish() == ""


def test_held_back_text_is_released_at_the_end() -> None:
    text = TextAssembler(("<|im_end|>",))
    assert text.feed(b"done <|im") == ("done ", False)
    assert text.finish() == "<|im"
