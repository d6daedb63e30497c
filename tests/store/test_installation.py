"""The installation's secret: made once, then the same for every reader of the database."""

from __future__ import annotations

import sqlalchemy as sa

from llmrelay.store.installation import SECRET_SETTING, installation_secret
from llmrelay.store.schema import settings_table


def test_the_secret_is_made_once_and_kept(engine: sa.Engine) -> None:
    first = installation_secret(engine)
    assert len(first) == 32
    assert installation_secret(engine) == first
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(settings_table.c.value).where(settings_table.c.name == SECRET_SETTING)
        ).all()
    assert [bytes.fromhex(row.value) for row in rows] == [first]
