"""What an account member may set on a key: only limits within the account's, and on a
change only narrower than the key has. Widening a key is the operator's (the admin API).

Fields arrive as `key_create_fields` / `key_patch_fields` give them (null already turned
into "unlimited": `[]` for lists, `total` for a period, None for a number).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from llmrelay.protocol.errors import RelayError
from llmrelay.store.keys import ApiKey

NUMBERS = ("rpm", "tpm", "max_concurrent", "budget_usd")


def cannot_widen(name: str, why: str) -> RelayError:
    return RelayError(
        403, f"Cannot widen '{name}': {why}. Ask the operator.", type="permission_error",
        param=name, code="cannot_widen",
    )  # fmt: skip


def _ceilings(account: dict[str, Any]) -> dict[str, Any]:
    ceilings = {name: account.get(name) for name in NUMBERS}
    if account.get("prepaid"):  # a prepaid account's budget_usd is not a per-period ceiling
        ceilings["budget_usd"] = None
    return ceilings


def within_account(fields: dict[str, Any], account: dict[str, Any]) -> None:
    """403 when a limit exceeds the account's, or a model is outside its allowlist."""
    for name, ceiling in _ceilings(account).items():
        value = fields.get(name)
        if ceiling is not None and value is not None and value > ceiling:
            raise cannot_widen(name, f"the account allows at most {ceiling}")
    allowed = set(account.get("models") or ())
    for model in fields.get("models") or ():
        if allowed and model not in allowed:
            raise cannot_widen("models", f"the account may not use {model!r}")


def _narrower_networks(new: list[str], current: tuple[str, ...]) -> bool:
    if not current:
        return True
    if not new:
        return False
    old = [ipaddress.ip_network(text) for text in current]
    for text in new:
        network = ipaddress.ip_network(text)
        inside = (n for n in old if n.version == network.version)
        if not any(network.subnet_of(n) for n in inside):  # type: ignore[arg-type]
            return False
    return True


def _narrower_models(new: list[str], current: tuple[str, ...]) -> bool:
    """An empty list is every model: narrower only than another empty list."""
    return not current or (bool(new) and set(new) <= set(current))


def _no_later(new: float | None, current: float | None) -> bool:
    return current is None or (new is not None and new <= current)


def _check_numbers(fields: dict[str, Any], key: ApiKey) -> None:
    for name in NUMBERS:
        current = getattr(key, name)
        if name in fields and current is not None:
            value = fields[name]
            if value is None or value > current:
                raise cannot_widen(name, f"the key allows at most {current}")


OPERATOR_FIELDS = ("account_id", "created_by")
"""What only the operator may set on a key: which account it spends (a member taking a key
out of its empty account, or onto another's balance, would spend without limit)."""


def narrower(fields: dict[str, Any], key: ApiKey, account: dict[str, Any]) -> None:
    """403 unless every field given keeps the key within its account and no wider than it
    is: numbers no higher, models and networks a subset, expiry no later, period unchanged
    while a budget is set; never another account."""
    for name in OPERATOR_FIELDS:
        if name in fields:
            raise cannot_widen(name, "a key stays in its account: only the operator moves it")
    within_account(fields, account)
    _check_numbers(fields, key)
    if "models" in fields and not _narrower_models(fields["models"], key.models):
        raise cannot_widen("models", "only models the key has may stay")
    if "allowed_ips" in fields and not _narrower_networks(fields["allowed_ips"], key.allowed_ips):
        raise cannot_widen("allowed_ips", "only networks inside the key's may stay")
    if "expires_at" in fields and not _no_later(fields["expires_at"], key.expires_at):
        raise cannot_widen("expires_at", "the key cannot expire later")
    period = fields.get("budget_period", key.budget_period)
    if key.budget_usd is not None and period != key.budget_period:
        raise cannot_widen("budget_period", "a budget's period is the operator's to change")
