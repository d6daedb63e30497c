"""The in-memory key table when the database cannot answer a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from llmrelay.gate.auth import KeyRegistry
from llmrelay.protocol.errors import RelayError
from llmrelay.store.generation import GenerationCounter
from llmrelay.store.keys import KeyStore

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_reload_the_database_cannot_answer_is_a_503_to_retry(tmp_path: Path) -> None:
    """A key changed elsewhere must not be judged on the stale table, nor be a 500."""
    unreachable = sa.create_engine(f"sqlite:///{tmp_path}")  # a directory: no connection opens
    generation = GenerationCounter(tmp_path / "keys.generation")
    registry = KeyRegistry(KeyStore(unreachable), generation)
    generation.bump()
    with pytest.raises(RelayError) as caught:
        await registry.authenticate("sk-any")
    assert (caught.value.status, caught.value.code) == (503, "store_unavailable")
    assert caught.value.retry_after is not None
    generation.close()
    unreachable.dispose()
