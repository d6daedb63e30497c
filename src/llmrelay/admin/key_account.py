"""A key's own limits can only narrow its account's: checked when a key is made or changed.

A key asking for more than its account allows (an rpm above the account's, a model outside
the account's allowlist) is refused with 400 naming the field, rather than silently clamped:
a limit that reads one way and works another would mislead whoever set it. Both limits hold
at the gate anyway; an account narrowed later simply bounds its keys from then on.
"""

from __future__ import annotations

from typing import Any

from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.store.accounts import Account, AccountNotFound, AccountStore
from llmrelay.store.keys import ApiKey

LIMITS = {"rpm": "requests per minute", "tpm": "tokens per minute", "max_concurrent": "at once"}


def _too_wide(param: str, message: str) -> RelayError:
    return invalid_request(message, param=param, code="exceeds_account")


def check_narrows(fields: dict[str, Any], account: Account) -> None:
    """Raise 400 `exceeds_account` if the key's `fields` ask for more than `account` allows."""
    for name, words in LIMITS.items():
        mine, theirs = fields.get(name), getattr(account, name)
        if mine is not None and theirs is not None and mine > theirs:
            raise _too_wide(
                name,
                f"Invalid '{name}': {mine} is above account {account.name!r}'s {theirs} "
                f"{words}; a key's limits can only narrow its account's.",
            )
    models = fields.get("models") or ()
    if account.models:
        for i, model in enumerate(models):
            if model not in account.models:
                raise _too_wide(
                    f"models[{i}]",
                    f"Invalid 'models[{i}]': account {account.name!r} may not use {model!r}.",
                )


def account_for(store: AccountStore, account_id: str) -> Account:
    """The account a key body names (blocking), or 400 `account_not_found`."""
    try:
        return store.get(account_id)
    except AccountNotFound:
        raise invalid_request(
            f"Invalid 'account_id': no account with id {account_id!r}.",
            param="account_id",
            code="account_not_found",
        ) from None


def check_key_fields(
    store: AccountStore, fields: dict[str, Any], key: ApiKey | None = None
) -> None:
    """Check a create body (`key` None) or a patch (over `key`'s current values) against
    the account the key will belong to, if any (blocking)."""
    merged = dict(fields)
    if key is not None:
        for name in ("rpm", "tpm", "max_concurrent", "models", "account_id"):
            merged.setdefault(name, getattr(key, name))
    account_id = merged.get("account_id")
    if account_id:
        check_narrows(merged, account_for(store, account_id))
