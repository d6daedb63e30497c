"""The installation's own secret: 32 random bytes made once, on the first start, and kept in
the database's `relay_settings` table.

It is in the database rather than in the data directory so that every replica that shares the
database shares it too (a token one replica minted is read by another), and it is its own
secret rather than the admin key's hash so that rotating the admin key does not void what
clients hold. What it keys is in docs/responses.md ("Upstream state").
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from llmrelay.store.schema import settings_table

SECRET_SETTING = "installation_secret"


def _read(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(settings_table.c.value).where(settings_table.c.name == SECRET_SETTING)
        ).scalar()


def installation_secret(engine: sa.Engine) -> bytes:
    """The secret, made now if there is none yet (a replica starting at the same moment may
    make it first: then its secret is the one kept)."""
    stored = _read(engine)
    if stored is None:
        try:
            with engine.begin() as connection:
                row = {"name": SECRET_SETTING, "value": secrets.token_hex(32)}
                connection.execute(sa.insert(settings_table).values(row))
        except sa.exc.IntegrityError:
            pass
        stored = _read(engine)
    assert stored is not None
    return bytes.fromhex(stored)
