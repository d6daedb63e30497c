"""A migrated, empty database for each store test: SQLite, and PostgreSQL when reachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from llmrelay.store.database import migrate, open_engine
from tests.services import fresh_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with fresh_postgres_database() as url:
        engine = open_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()
