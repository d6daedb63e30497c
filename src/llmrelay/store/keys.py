"""API keys at rest: only a SHA-256 digest of each key is stored, never the key itself.

Keys carry 256 bits of randomness, so a fast digest is the right hash: there is nothing to
brute-force, and the lookup on every request stays a few microseconds.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from llmrelay.store.schema import api_keys, settings_table

KEY_PREFIX = "sk-"
ADMIN_HASH_SETTING = "admin_key_hash"


def new_secret_key() -> str:
    """`sk-` and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(slots=True, frozen=True)
class ApiKey:
    id: str
    name: str
    key_hash: str
    key_prefix: str
    models: tuple[str, ...] = ()
    created_at: float = 0.0
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def may_use(self, model: str) -> bool:
        return not self.models or model in self.models

    def public(self) -> dict[str, Any]:
        """What listing a key shows: never the hash, only the first characters."""
        return {
            "id": self.id,
            "name": self.name,
            "key_prefix": self.key_prefix,
            "models": list(self.models),
            "created_at": int(self.created_at),
            "revoked_at": int(self.revoked_at) if self.revoked_at else None,
        }


class KeyExists(Exception):
    pass


class KeyNotFound(Exception):
    pass


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        key_hash=row.key_hash,
        key_prefix=row.key_prefix,
        models=tuple(row.models or ()),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class KeyStore:
    """Blocking CRUD over `api_keys`; callers on the event loop use worker threads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self, name: str, models: list[str] | None = None) -> tuple[ApiKey, str]:
        """Insert a new key; returns its record and the secret, which is never stored."""
        secret = new_secret_key()
        record = ApiKey(
            id="key_" + secrets.token_hex(8),
            name=name,
            key_hash=hash_key(secret),
            key_prefix=secret[:8],
            models=tuple(models or ()),
            created_at=time.time(),
        )
        values = {
            "id": record.id,
            "name": record.name,
            "key_hash": record.key_hash,
            "key_prefix": record.key_prefix,
            "models": list(record.models),
            "created_at": record.created_at,
            "revoked_at": None,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(api_keys).values(**values))
        except sa.exc.IntegrityError:
            raise KeyExists(f"a key named {name!r} already exists") from None
        return record, secret

    def all(self) -> list[ApiKey]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(api_keys).order_by(api_keys.c.created_at))
            return [_row_to_key(row) for row in rows]

    def active(self) -> list[ApiKey]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(api_keys).where(api_keys.c.revoked_at.is_(None)))
            return [_row_to_key(row) for row in rows]

    def revoke(self, name_or_id: str) -> ApiKey:
        now = time.time()
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.select(api_keys).where(
                    sa.or_(api_keys.c.name == name_or_id, api_keys.c.id == name_or_id)
                )
            ).first()
            if row is None:
                raise KeyNotFound(f"no key named {name_or_id!r}")
            if row.revoked_at is None:
                connection.execute(
                    sa.update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=now)
                )
        return _row_to_key(row)

    def admin_hash(self) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(settings_table.c.value).where(settings_table.c.name == ADMIN_HASH_SETTING)
            ).scalar()

    def set_admin_hash(self, digest: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.delete(settings_table).where(settings_table.c.name == ADMIN_HASH_SETTING)
            )
            connection.execute(
                sa.insert(settings_table).values(name=ADMIN_HASH_SETTING, value=digest)
            )
