"""The key object the admin API, the customer API and the console all show."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from llmrelay.admin.account_object import account_standing
from llmrelay.admin.shapes import KeyCreated, KeyObject
from llmrelay.gate.admission import counters_unavailable
from llmrelay.protocol.errors import RelayError
from llmrelay.store.keys import ApiKey

if TYPE_CHECKING:
    from llmrelay.gate.budgets import BudgetStanding
    from llmrelay.relay import Relay


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)


def _fields(key: ApiKey, standing: BudgetStanding | None, now: float) -> dict[str, Any]:
    remaining = key.budget_usd if standing is None else standing.remaining_usd
    limited = key.budget_usd is not None or (standing is not None and remaining is not None)
    return {
        "id": key.id,
        "name": key.name,
        "key_prefix": key.key_prefix,
        "status": key.status(now),
        "models": list(key.models),
        "budget_usd": key.budget_usd,
        "budget_period": key.budget_period,
        "spend_usd": 0.0 if standing is None else standing.spend_usd,
        "budget_remaining_usd": remaining if limited else None,
        "budget_resets_at": None if standing is None else _seconds(standing.resets_at),
        "expires_at": _seconds(key.expires_at),
        "rpm": key.rpm,
        "tpm": key.tpm,
        "max_concurrent": key.max_concurrent,
        "allowed_ips": list(key.allowed_ips),
        "metadata": key.metadata,
        "created_at": int(key.created_at),
        "updated_at": _seconds(key.updated_at),
        "disabled_at": _seconds(key.disabled_at),
        "revoked_at": _seconds(key.revoked_at),
        "account_id": key.account_id,
    }


def key_object(key: ApiKey, standing: BudgetStanding | None, now: float) -> KeyObject:
    """The key as the API shows it: limits, status at `now`, and its money this period."""
    return KeyObject(**_fields(key, standing, now))


def key_created(
    key: ApiKey, secret: str, standing: BudgetStanding | None, now: float
) -> KeyCreated:
    return KeyCreated(**_fields(key, standing, now), key=secret)


async def standing_of(relay: Relay, key: ApiKey) -> BudgetStanding:
    """The key's spend and remaining budget in its current period (after any key change this
    process has not yet seen, so a budget just changed is read again from the ledger)."""
    await relay.keys.refresh()
    try:
        return await relay.budgets.standing(key)
    except Exception as exc:  # Redis (or the ledger) did not answer: say so, not a 500
        raise counters_unavailable(exc) from None


async def tighter_standing(relay: Relay, key: ApiKey) -> BudgetStanding:
    """What a customer of the key may still spend: the key's own standing, its remaining (and
    when that resets) lowered to its account's when the account's budget or balance leaves
    less. The spend stays the key's own."""
    own = await standing_of(relay, key)
    account = key.account
    if account is None or account.limit_nano is None:
        return own
    shared = await account_standing(relay, account)
    if own.remaining_usd is not None and own.remaining_usd <= (shared.remaining_usd or 0.0):
        return own
    return replace(own, remaining_usd=shared.remaining_usd, resets_at=shared.resets_at)


async def standing_if_known(relay: Relay, key: ApiKey) -> BudgetStanding | None:
    """As `standing_of`, but None when the counters cannot be reached: for answers that
    carry a secret shown only once (create, rotate), which must not be lost to a 503."""
    try:
        return await standing_of(relay, key)
    except RelayError:
        return None
