"""API keys at rest: only a SHA-256 digest of each key is stored, never the key itself.

Keys carry 256 bits of randomness, so a fast digest is the right hash: there is nothing to
brute-force, and the lookup on every request stays a few microseconds.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from llmrelay.store.accounts import Account, load_accounts
from llmrelay.store.generation import GenerationCounter
from llmrelay.store.key_events import bump_database_generation
from llmrelay.store.schema import api_keys, settings_table

KEY_PREFIX = "sk-"
ADMIN_HASH_SETTING = "admin_key_hash"


def new_secret_key() -> str:
    """`sk-` and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_name() -> str:
    """A name for a key created without one: `key-` and 8 random hex digits."""
    return "key-" + secrets.token_hex(4)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


BUDGET_PERIODS = ("total", "daily", "weekly", "monthly")


@dataclass(slots=True, frozen=True)
class ApiKey:
    """One issued key and everything that bounds it. `None` limits mean unlimited."""

    id: str
    name: str
    key_hash: str
    key_prefix: str
    models: tuple[str, ...] = ()
    created_at: float = 0.0
    revoked_at: float | None = None
    budget_usd: float | None = None
    budget_period: str = "total"
    expires_at: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None
    allowed_ips: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    disabled_at: float | None = None
    updated_at: float | None = None
    account_id: str | None = None
    account: Account | None = None
    """The account it belongs to, as the key table loaded it (`active`): its limits and its
    budget or balance hold too."""
    created_by: str | None = None
    """The account member who made the key (None: the operator)."""
    disabled_by: str | None = None
    """The account member who disabled the key (None: the operator, or not disabled)."""

    @property
    def rate_limited(self) -> bool:
        """Whether requests per minute, tokens per minute or requests at once are bounded."""
        return self.rpm is not None or self.tpm is not None or self.max_concurrent is not None

    @property
    def limited(self) -> bool:
        """Whether the gate has anything to check or count for this key."""
        return bool(
            self.allowed_ips
            or self.rate_limited
            or self.budget_usd is not None
            or self.account is not None
        )

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def status(self, now: float) -> str:
        """`active`, `disabled`, `expired` or `revoked`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.disabled_at is not None:
            return "disabled"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def may_use(self, model: str) -> bool:
        """In the key's allowlist and in its account's (an empty one allows every model)."""
        if self.models and model not in self.models:
            return False
        return self.account is None or self.account.may_use(model)


SETTABLE_FIELDS = (
    "name",
    "models",
    "budget_usd",
    "budget_period",
    "expires_at",
    "rpm",
    "tpm",
    "max_concurrent",
    "allowed_ips",
    "metadata",
    "account_id",
    "created_by",
)
"""What `create` and `update` may set; everything else the store manages itself."""


def with_account(key: ApiKey, found: dict[str, Account]) -> ApiKey:
    """The key with its account attached (a key whose account is gone has none)."""
    if key.account_id is None:
        return key
    return replace(key, account=found.get(key.account_id))


class KeyExists(Exception):
    pass


class KeyNotFound(Exception):
    pass


class KeyRevoked(Exception):
    """A revoked key is final: it cannot be given a new secret."""


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        key_hash=row.key_hash,
        key_prefix=row.key_prefix,
        models=tuple(row.models or ()),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        budget_usd=row.budget_usd,
        budget_period=row.budget_period or "total",
        expires_at=row.expires_at,
        rpm=row.rpm,
        tpm=row.tpm,
        max_concurrent=row.max_concurrent,
        allowed_ips=tuple(row.allowed_ips or ()),
        metadata=dict(row.key_metadata or {}),
        disabled_at=row.disabled_at,
        updated_at=row.updated_at,
        account_id=row.account_id,
        created_by=row.created_by,
        disabled_by=row.disabled_by,
    )


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """Settable fields as column values (tuples become JSON lists, `metadata` its column)."""
    unknown = set(fields) - set(SETTABLE_FIELDS)
    if unknown:
        raise ValueError(f"not settable: {', '.join(sorted(unknown))}")
    period = fields.get("budget_period", "total")
    if period not in BUDGET_PERIODS:
        raise ValueError(f"budget_period must be one of {', '.join(BUDGET_PERIODS)}")
    values = dict(fields)
    for name in ("models", "allowed_ips"):
        if name in values:
            values[name] = list(values[name] or ())
    if "metadata" in values:
        values["key_metadata"] = dict(values.pop("metadata") or {})
    return values


class KeyStore:
    """Blocking CRUD over `api_keys`; callers on the event loop use worker threads.

    Every change also moves the database's key generation in its own transaction, so relays
    on other machines reload within a second (`store/key_events.py`). Given the data
    directory's generation counter, every change bumps it once committed, so each relay
    process on this machine reloads its key table before its next request.
    """

    def __init__(self, engine: sa.Engine, generation: GenerationCounter | None = None) -> None:
        self.engine = engine
        self.generation = generation

    @contextmanager
    def _changing(self) -> Iterator[sa.Connection]:
        """A transaction that changes keys: it moves the database's generation before it
        commits, and the local counter once it has."""
        with self.engine.begin() as connection:
            yield connection
            bump_database_generation(connection)
        if self.generation is not None:
            self.generation.bump()

    def create(
        self, name: str, models: list[str] | tuple[str, ...] | None = None, **limits: Any
    ) -> tuple[ApiKey, str]:
        """Insert a new key; returns its record and the secret, which is never stored."""
        secret = new_secret_key()
        now = time.time()
        values = {
            "budget_period": "total",
            **_columns({"name": name, "models": models or (), **limits}),
            "id": "key_" + secrets.token_hex(8),
            "key_hash": hash_key(secret),
            "key_prefix": secret[:8],
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self._changing() as connection:
                connection.execute(sa.insert(api_keys).values(**values))
        except sa.exc.IntegrityError:
            raise KeyExists(f"a key named {name!r} already exists") from None
        return self.get(values["id"]), secret

    def get(self, key_id: str) -> ApiKey:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise KeyNotFound(f"no key with id {key_id!r}")
        return _row_to_key(row)

    def find(self, name_or_id: str) -> ApiKey:
        """A key by its name or its id (the command line takes either)."""
        c = api_keys.c
        query = sa.select(api_keys).where(sa.or_(c.name == name_or_id, c.id == name_or_id))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise KeyNotFound(f"no key named {name_or_id!r}")
        return _row_to_key(row)

    def all(self) -> list[ApiKey]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(api_keys).order_by(api_keys.c.created_at))
            return [_row_to_key(row) for row in rows]

    def active(self) -> list[ApiKey]:
        """Every key not revoked, disabled and expired ones included: the gate tells them
        apart from unknown keys to say why it refuses them. Each carries its account."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(api_keys).where(api_keys.c.revoked_at.is_(None)))
            keys = [_row_to_key(row) for row in rows]
            if not any(key.account_id for key in keys):
                return keys
            found = load_accounts(connection)
        return [with_account(key, found) for key in keys]

    def revoked_hashes(self) -> list[str]:
        """The digests of revoked keys, so the gate can say that a key was revoked."""
        c = api_keys.c
        with self.engine.connect() as connection:
            return list(
                connection.execute(sa.select(c.key_hash).where(c.revoked_at.is_not(None))).scalars()
            )

    def _set(self, key_id: str, values: dict[str, Any]) -> ApiKey:
        values = {**values, "updated_at": time.time()}
        try:
            with self._changing() as connection:
                result = connection.execute(
                    sa.update(api_keys).where(api_keys.c.id == key_id).values(**values)
                )
        except sa.exc.IntegrityError:
            raise KeyExists(f"a key named {values.get('name')!r} already exists") from None
        if result.rowcount == 0:
            raise KeyNotFound(f"no key with id {key_id!r}")
        return self.get(key_id)

    def update(self, key_id: str, fields: dict[str, Any]) -> ApiKey:
        """Change settable fields; a `None` limit means unlimited from now on."""
        if "budget_period" in fields and fields["budget_period"] is None:
            fields = {**fields, "budget_period": "total"}
        return self._set(key_id, _columns(fields))

    def disable(self, key_id: str, member_id: str | None = None) -> ApiKey:
        """Refuse the key from its next request on; `member_id`: a member of its account did
        it (and may undo it), else the operator. The operator's disable stands over a
        member's."""
        key = self.get(key_id)
        if key.disabled_at is not None and (member_id is not None or key.disabled_by is None):
            return key
        return self._set(key_id, {"disabled_at": time.time(), "disabled_by": member_id})

    def enable(self, key_id: str) -> ApiKey:
        return self._set(key_id, {"disabled_at": None, "disabled_by": None})

    def rotate(self, key_id: str) -> tuple[ApiKey, str]:
        """A new secret for the same key: the old one stops working at once."""
        if self.get(key_id).revoked_at is not None:
            raise KeyRevoked(f"key {key_id!r} is revoked; create a new one")
        secret = new_secret_key()
        key = self._set(key_id, {"key_hash": hash_key(secret), "key_prefix": secret[:8]})
        return key, secret

    def delete(self, key_id: str) -> ApiKey:
        """Remove the key; its usage records stay in the ledger."""
        key = self.get(key_id)
        with self._changing() as connection:
            connection.execute(sa.delete(api_keys).where(api_keys.c.id == key_id))
        return key

    def revoke(self, name_or_id: str) -> ApiKey:
        key = self.find(name_or_id)
        if key.revoked_at is None:
            with self._changing() as connection:
                connection.execute(
                    sa.update(api_keys)
                    .where(api_keys.c.id == key.id)
                    .values(revoked_at=time.time(), updated_at=time.time())
                )
        return key

    def admin_hash(self) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(settings_table.c.value).where(settings_table.c.name == ADMIN_HASH_SETTING)
            ).scalar()

    def set_admin_hash(self, digest: str) -> None:
        """Store the admin key's digest in one statement (an upsert): replicas starting at
        once with the same key each write it, and none fails on the row another wrote."""
        statement = self._insert_admin_hash(digest)
        with self._changing() as connection:
            connection.execute(
                statement.on_conflict_do_update(index_elements=["name"], set_={"value": digest})
            )

    def claim_admin_hash(self, digest: str) -> bool:
        """Store the admin key's digest unless one is stored already (a replica starting at
        the same moment may store its own first); whether this one was stored."""
        statement = self._insert_admin_hash(digest).on_conflict_do_nothing(index_elements=["name"])
        with self._changing() as connection:
            stored = connection.execute(statement.returning(settings_table.c.name)).first()
        return stored is not None

    def _insert_admin_hash(self, digest: str) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(settings_table).values(name=ADMIN_HASH_SETTING, value=digest)
