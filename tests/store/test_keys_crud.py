"""KeyStore: every field a key can carry survives the database, every change is seen by the
other processes (the generation counter moves), and the gate's table keeps disabled and
expired keys so that it can say why it refuses them. On SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from llmrelay.store.generation import GenerationCounter
from llmrelay.store.key_events import read_database_generation
from llmrelay.store.keys import KeyExists, KeyNotFound, KeyRevoked, KeyStore, hash_key

LIMITS = {
    "budget_usd": 12.5,
    "budget_period": "monthly",
    "expires_at": 4_000_000_000.0,
    "rpm": 60,
    "tpm": 100_000,
    "max_concurrent": 4,
    "allowed_ips": ["10.0.0.0/8", "2001:db8::/32"],
    "metadata": {"team": "a", "tags": ["x", 1], "nested": {"ok": True}},
}


@pytest.fixture()
def generation(tmp_path: Path) -> Iterator[GenerationCounter]:
    counter = GenerationCounter(tmp_path / "keys.generation")
    yield counter
    counter.close()


@pytest.fixture()
def store(engine: sa.Engine, generation: GenerationCounter) -> KeyStore:
    return KeyStore(engine, generation)


def test_create_keeps_every_field_and_only_a_hash(store: KeyStore) -> None:
    key, secret = store.create("team-a", ["gpt-5"], **LIMITS)
    assert key.key_hash == hash_key(secret) and key.key_prefix == secret[:8]
    again = store.get(key.id)
    assert again == key
    assert again.models == ("gpt-5",)
    assert again.budget_usd == 12.5 and again.budget_period == "monthly"
    assert (again.rpm, again.tpm, again.max_concurrent) == (60, 100_000, 4)
    assert again.allowed_ips == ("10.0.0.0/8", "2001:db8::/32")
    assert again.metadata == LIMITS["metadata"]
    assert again.expires_at == 4_000_000_000.0
    assert again.created_at == again.updated_at
    assert again.status(time.time()) == "active"


def test_defaults_are_unlimited(store: KeyStore) -> None:
    key, _ = store.create("plain")
    assert key.models == () and key.allowed_ips == () and key.metadata == {}
    assert key.budget_usd is None and key.budget_period == "total"
    assert key.rpm is None and key.tpm is None and key.max_concurrent is None
    assert key.expires_at is None and key.disabled_at is None


def test_every_change_moves_the_generation(store: KeyStore, generation: GenerationCounter) -> None:
    """Both the data directory's counter (this machine) and the database's row (others)."""

    def both() -> tuple[int, int]:
        return generation.read(), read_database_generation(store.engine)

    seen = both()

    def moved() -> bool:
        nonlocal seen
        now = both()
        changed, seen = now[0] > seen[0] and now[1] > seen[1], now
        return changed

    key, _ = store.create("watched")
    assert moved()
    store.update(key.id, {"rpm": 5})
    assert moved()
    store.disable(key.id)
    assert moved()
    store.enable(key.id)
    assert moved()
    store.rotate(key.id)
    assert moved()
    store.revoke(key.id)
    assert moved()
    store.delete(key.id)
    assert moved()
    store.all()
    assert not moved()


def test_update_changes_only_what_is_given_and_none_clears(store: KeyStore) -> None:
    key, _ = store.create("tuned", ["gpt-5"], **LIMITS)
    changed = store.update(key.id, {"rpm": 120, "name": "renamed"})
    assert changed.rpm == 120 and changed.name == "renamed"
    assert changed.tpm == 100_000 and changed.models == ("gpt-5",)
    assert changed.updated_at is not None and changed.updated_at >= key.updated_at
    cleared = store.update(
        key.id, {"rpm": None, "budget_usd": None, "allowed_ips": [], "metadata": {}}
    )
    assert cleared.rpm is None and cleared.budget_usd is None
    assert cleared.allowed_ips == () and cleared.metadata == {}
    assert cleared.max_concurrent == 4


def test_names_are_unique_on_create_and_rename(store: KeyStore) -> None:
    store.create("one")
    two, _ = store.create("two")
    with pytest.raises(KeyExists):
        store.create("one")
    with pytest.raises(KeyExists):
        store.update(two.id, {"name": "one"})


def test_fields_the_store_manages_cannot_be_set(store: KeyStore) -> None:
    key, _ = store.create("guarded")
    with pytest.raises(ValueError, match="key_hash"):
        store.update(key.id, {"key_hash": "0" * 64})
    with pytest.raises(ValueError, match="budget_period"):
        store.update(key.id, {"budget_period": "yearly"})


def test_disable_enable_and_expiry_show_in_status(store: KeyStore) -> None:
    key, _ = store.create("switch")
    disabled = store.disable(key.id)
    now = time.time()
    assert disabled.status(now) == "disabled" and disabled.disabled_at is not None
    assert store.disable(key.id).disabled_at == disabled.disabled_at  # idempotent
    assert store.enable(key.id).status(now) == "active"
    expired = store.update(key.id, {"expires_at": now - 1})
    assert expired.status(now) == "expired"


def test_active_keeps_disabled_and_expired_keys_but_not_revoked_ones(store: KeyStore) -> None:
    disabled, _ = store.create("d")
    store.disable(disabled.id)
    expired, _ = store.create("e", expires_at=time.time() - 10)
    revoked, _ = store.create("r")
    store.revoke("r")
    ids = {key.id for key in store.active()}
    assert {disabled.id, expired.id} <= ids and revoked.id not in ids
    assert store.get(revoked.id).status(time.time()) == "revoked"


def test_rotate_gives_a_new_secret_to_the_same_key(store: KeyStore) -> None:
    key, old = store.create("rotating", rpm=7)
    rotated, new = store.rotate(key.id)
    assert new != old and rotated.id == key.id and rotated.rpm == 7
    hashes = {k.key_hash for k in store.active()}
    assert hash_key(new) in hashes and hash_key(old) not in hashes
    store.revoke(key.id)
    with pytest.raises(KeyRevoked):
        store.rotate(key.id)


def test_delete_removes_the_key(store: KeyStore) -> None:
    key, _ = store.create("gone")
    assert store.delete(key.id).id == key.id
    with pytest.raises(KeyNotFound):
        store.get(key.id)
    with pytest.raises(KeyNotFound):
        store.delete(key.id)
    with pytest.raises(KeyNotFound):
        store.update(key.id, {"rpm": 1})


def test_find_takes_a_name_or_an_id(store: KeyStore) -> None:
    key, _ = store.create("findable")
    assert store.find("findable").id == key.id
    assert store.find(key.id).name == "findable"
    with pytest.raises(KeyNotFound, match="no key named 'nobody'"):
        store.find("nobody")
