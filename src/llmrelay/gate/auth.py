"""Who is calling: API keys from an in-memory table that follows every change at once.

The table is reloaded whenever the shared generation counter moves (any process on this
machine that changes a key bumps it; changes made on other machines are counted into it
within a second, `store/key_events.py`), so a key revoked from the CLI is refused on the very
next request without a database query per request.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

from llmrelay.protocol.errors import RelayError, invalid_api_key, store_unavailable
from llmrelay.store.database import unavailable
from llmrelay.store.generation import GenerationCounter
from llmrelay.store.keys import ApiKey, KeyStore, hash_key, new_secret_key

ADMIN_KEY_ID = "admin"


NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def _mask(token: str) -> str:
    return token[:3] + "***" + token[-4:] if len(token) > 12 else "***"


def _usable(key: ApiKey, token: str) -> ApiKey:
    """The key itself, unless it is disabled or past its expiry (401 saying which)."""
    status = key.status(time.time())
    if status == "disabled":
        raise RelayError(
            401, f"This API key ({_mask(token)}) has been disabled.", code="key_disabled"
        )
    if status == "expired":
        raise RelayError(401, f"This API key ({_mask(token)}) has expired.", code="key_expired")
    account = key.account
    if account is not None and account.disabled_at is not None:
        raise RelayError(
            401,
            f"This API key ({_mask(token)}) belongs to an account that has been disabled.",
            code="account_disabled",
        )
    return key


def _budget_of(key: ApiKey) -> tuple[Any, ...]:
    """What, changed, makes a key's (or its account's) settled spend worth reading again."""
    account = key.account
    if account is None:
        return key.budget_usd, key.budget_period
    return key.budget_usd, key.budget_period, account.budget_usd, account.period


class KeyRegistry:
    def __init__(self, keys: KeyStore, generation: GenerationCounter) -> None:
        self.keys = keys
        self.generation = generation
        self._by_hash: dict[str, ApiKey] = {}
        self._revoked: frozenset[str] = frozenset()
        self._loaded = -1
        self._admin_hash: str | None = None
        self._reload_lock = asyncio.Lock()
        self.on_budget_change: Callable[[ApiKey], Awaitable[None]] | None = None
        """Called for each key whose budget or budget period changed since the last load."""

    async def load(self) -> None:
        async with self._reload_lock:
            seen = self.generation.read()
            try:
                active, revoked, admin = await asyncio.to_thread(
                    lambda: (
                        self.keys.active(),
                        self.keys.revoked_hashes(),
                        self.keys.admin_hash(),
                    )
                )
            except Exception as exc:
                if unavailable(exc):  # tried again on the next request
                    raise store_unavailable() from exc
                raise
            before = {key.id: key for key in self._by_hash.values()}
            self._by_hash = {key.key_hash: key for key in active}
            self._revoked = frozenset(revoked)
            self._admin_hash = admin
            self._loaded = seen
            if self.on_budget_change is not None:
                for key in active:
                    old = before.get(key.id)
                    if old is not None and _budget_of(old) != _budget_of(key):
                        await self.on_budget_change(key)

    async def refresh(self) -> None:
        """Reload if any process changed keys since the last load."""
        if self.generation.read() != self._loaded:
            await self.load()

    async def authenticate(self, token: str | None) -> ApiKey:
        """The key for this token; 401 if unknown, disabled or expired (the code says which)."""
        if token is None:
            raise invalid_api_key(NO_KEY)
        await self.refresh()
        digest = hash_key(token)
        key = self._by_hash.get(digest)
        if key is not None and hmac.compare_digest(key.key_hash, digest):
            return _usable(key, token)
        if self._admin_hash is not None and hmac.compare_digest(self._admin_hash, digest):
            return ApiKey(ADMIN_KEY_ID, "admin", digest, token[:8])
        if digest in self._revoked:
            raise invalid_api_key(f"This API key ({_mask(token)}) has been revoked.")
        raise invalid_api_key(f"Incorrect API key provided: {_mask(token)}.")

    async def is_admin(self, token: str | None) -> bool:
        if token is None:
            return False
        await self.refresh()
        if self._admin_hash is None:
            return False
        return hmac.compare_digest(self._admin_hash, hash_key(token))

    async def require_admin(self, token: str | None) -> None:
        if token is None:
            raise invalid_api_key("This route needs the admin key as 'Authorization: Bearer'.")
        if not await self.is_admin(token):
            await self.refresh()
            if hash_key(token) in self._by_hash:
                raise RelayError(
                    403,
                    "This route needs the admin key; an API key cannot use it.",
                    type="permission_error",
                    code="admin_required",
                )
            raise invalid_api_key(f"Incorrect admin key provided: {_mask(token)}.")


def ensure_admin_key(
    keys: KeyStore, generation: GenerationCounter, configured: str | None
) -> str | None:
    """Make the stored admin hash match `configured`, or create a key when there is none.

    Returns the secret only when it was generated here: the caller prints it once.
    """
    if configured:
        digest = hash_key(configured)
        if keys.admin_hash() != digest:
            keys.set_admin_hash(digest)
            generation.bump()
        return None
    if keys.admin_hash() is not None:
        return None
    secret = new_secret_key()
    if not keys.claim_admin_hash(hash_key(secret)):
        return None  # another process made one first: its secret is the one kept
    generation.bump()
    return secret
