"""What the relay writes to disk is readable by its own user only: the database holds key
hashes and the whole request log, the outbox the newest ledger records."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    ADMIN_KEY,
    RunningRelay,
    launch_relay,
    relay_config,
    stop_relay,
    wait_ready,
)
from tests.mocks.openai_upstream import MockOpenAI


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def relay_with_a_lax_umask(mock_openai: MockOpenAI, tmp_path: Path) -> Iterator[RunningRelay]:
    """A relay started under umask 022, which would leave new files world-readable."""
    previous = os.umask(0o022)
    try:
        running = launch_relay(tmp_path, relay_config(mock_openai), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    finally:
        os.umask(previous)
    yield wait_ready(running)
    stop_relay(running)


def test_the_database_the_outbox_and_the_key_counter_are_private(
    relay_with_a_lax_umask: RunningRelay,
) -> None:
    relay = relay_with_a_lax_umask
    made = httpx.post(
        relay.url + "/admin/keys",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        json={"name": "private"},
    )
    assert made.status_code == 201
    data = relay.data_dir
    files = [data / "llmrelay.db", data / "llmrelay.db-wal", data / "llmrelay.db-shm"]
    files += [data / "keys.generation", *(data / "outbox").glob("outbox-*.jsonl")]
    assert len(files) == 5, "the relay holds one outbox segment open"
    assert {path.name: oct(mode(path)) for path in files} == {
        path.name: oct(0o600) for path in files
    }
    assert oct(mode(data / "outbox")) == oct(0o700)
    assert oct(mode(data)) == oct(0o700)
