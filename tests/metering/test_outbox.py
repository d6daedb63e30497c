"""The outbox: a held segment is never drained; a released or orphaned one is, exactly once."""

from __future__ import annotations

from pathlib import Path

import orjson

from llmrelay.metering.outbox import Segment, drain


def test_held_segments_wait_and_released_ones_are_drained(tmp_path: Path) -> None:
    inserted: list[dict] = []
    segment = Segment(tmp_path, "abc", 1)
    segment.append(orjson.dumps({"request_id": "r1"}) + b"\n")
    assert drain(tmp_path, inserted.extend) == 0, "its writer still holds it"
    assert inserted == []
    segment.close()
    assert drain(tmp_path, inserted.extend) == 1
    assert inserted == [{"request_id": "r1"}]
    assert list(tmp_path.iterdir()) == []
    assert drain(tmp_path, inserted.extend) == 0


def test_a_new_segment_is_locked_before_a_drain_can_see_it(tmp_path: Path) -> None:
    segment = Segment(tmp_path, "abc", 2)
    assert drain(tmp_path, lambda records: None) == 0
    assert segment.path.exists(), "an empty segment being written is left alone"
    segment.close()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "outbox-dead-00000001.jsonl"
    path.write_bytes(orjson.dumps({"request_id": "r1"}) + b"\n" + b'{"request_id": "r')
    inserted: list[dict] = []
    assert drain(tmp_path, inserted.extend) == 1
    assert inserted == [{"request_id": "r1"}] and not path.exists()
