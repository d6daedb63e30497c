"""The ledger writer sets aside what the database refuses, so every good record lands; a
database it cannot reach leaves the records in the outbox for the next drain."""

from __future__ import annotations

import contextlib
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from llmrelay.metering.writer import REJECTED_DIR, LedgerSink, drain_once
from llmrelay.store.database import migrate, open_engine
from llmrelay.store.schema import metadata, usage_records
from llmrelay.store.usage import UsageStore
from tests.services import fresh_postgres_database

HUGE = 2**63 + 5
"""Fits orjson's u64, not a 64-bit signed column."""


def record(request_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "created_at": time.time(),
        "key_id": "key_a",
        "key_name": "a",
        "model": "m",
        "provider": "p",
        "upstream_model": "m",
        "stream": False,
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "total_tokens": 13,
        "latency_ms": 12.5,
        **fields,
    }


def segment(outbox: Path, lines: list[Any]) -> Path:
    """A released segment (nobody holds its lock), as a relay that rotated it leaves it."""
    outbox.mkdir(exist_ok=True)
    path = outbox / "outbox-dead-00000001.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UsageStore]:
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(fresh_postgres_database())
        else:
            url = f"sqlite:///{tmp_path / 'ledger.db'}"
        engine = open_engine(url)
        stack.callback(engine.dispose)
        migrate(engine)
        yield UsageStore(engine)


def stored_ids(store: UsageStore) -> set[str]:
    with store.engine.connect() as connection:
        return set(connection.execute(sa.select(usage_records.c.request_id)).scalars())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rejected(outbox: Path) -> list[Any]:
    files = sorted((outbox / REJECTED_DIR).glob("rejected-*.jsonl"))
    return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]


def test_a_poisoned_segment_lands_its_good_records_and_sets_the_rest_aside(
    tmp_path: Path, store: UsageStore, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = tmp_path / "outbox"
    poison = [
        record("r-huge", prompt_tokens=HUGE),
        record("r-no-time", created_at=None),
        ["not", "a", "record"],
    ]
    path = segment(outbox, [record("r1"), *poison, record("r2")])
    drain_once(outbox, LedgerSink(store, outbox / REJECTED_DIR))
    assert stored_ids(store) == {"r1", "r2"}
    assert rejected(outbox) == poison
    assert not path.exists(), "the segment is done with: nothing holds up the next ones"
    assert "r-huge cannot be stored" in caplog.text
    segment(outbox, [record("r3")])
    drain_once(outbox, LedgerSink(store, outbox / REJECTED_DIR))
    assert stored_ids(store) == {"r1", "r2", "r3"}
    assert len(rejected(outbox)) == 3


def test_a_segment_of_nothing_but_poison_is_set_aside(tmp_path: Path, store: UsageStore) -> None:
    outbox = tmp_path / "outbox"
    path = segment(outbox, [record("r-huge", completion_tokens=HUGE)])
    drain_once(outbox, LedgerSink(store, outbox / REJECTED_DIR))
    assert not path.exists() and stored_ids(store) == set()
    assert [r["request_id"] for r in rejected(outbox)] == ["r-huge"]
    [kept] = (outbox / REJECTED_DIR).iterdir()
    assert (mode(outbox / REJECTED_DIR), mode(kept)) == (0o700, 0o600), "readable by us only"


def test_records_wait_in_the_outbox_while_the_database_cannot_be_reached(
    tmp_path: Path,
) -> None:
    """That is not the records' fault: none of them is set aside."""
    outbox = tmp_path / "outbox"
    unreachable = UsageStore(sa.create_engine(f"sqlite:///{tmp_path}"))  # a directory
    path = segment(outbox, [record("r1"), record("r-huge", prompt_tokens=HUGE)])
    drain_once(outbox, LedgerSink(unreachable, outbox / REJECTED_DIR))
    assert path.exists() and not (outbox / REJECTED_DIR).exists()
    unreachable.engine.dispose()


def test_a_database_that_lost_its_tables_is_migrated_again_and_the_records_land(
    tmp_path: Path, store: UsageStore
) -> None:
    """A database recreated empty under a running relay: the writer used to retry for ever."""
    with store.engine.begin() as connection:
        metadata.drop_all(connection)
        connection.execute(sa.text("DROP TABLE alembic_version"))
    outbox = tmp_path / "outbox"
    path = segment(outbox, [record("r1"), record("r-huge", prompt_tokens=HUGE), record("r2")])
    drain_once(outbox, LedgerSink(store, outbox / REJECTED_DIR))
    assert stored_ids(store) == {"r1", "r2"} and not path.exists()
    assert [r["request_id"] for r in rejected(outbox)] == ["r-huge"]
