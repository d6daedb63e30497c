"""The account, credit and code objects the admin and customer API show, and the errors
the account store's exceptions become."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmrelay.admin.account_shapes import AccountObject, CodeCreated, CodeObject, CreditObject
from llmrelay.gate.admission import counters_unavailable
from llmrelay.metering.prices import nano_to_usd
from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.store.accounts import (
    Account,
    AccountExists,
    AccountInUse,
    AccountNotFound,
    CodeNotFound,
    CodeRefused,
    Credit,
    NotPrepaid,
    RedemptionCode,
)

if TYPE_CHECKING:
    from llmrelay.gate.budgets import BudgetStanding
    from llmrelay.relay import Relay


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)


def account_object(account: Account, standing: BudgetStanding, keys: int) -> AccountObject:
    """The account with its money: spend this period, and what is left of its budget or
    its balance (credits less spend less what running requests hold)."""
    remaining = standing.remaining_usd
    return AccountObject(
        id=account.id,
        name=account.name,
        status="disabled" if account.disabled_at is not None else "active",
        mode="prepaid" if account.prepaid else "budget",
        models=list(account.models),
        rpm=account.rpm,
        tpm=account.tpm,
        max_concurrent=account.max_concurrent,
        budget_usd=account.budget_usd,
        budget_period=account.period,
        spend_usd=standing.spend_usd,
        reserved_usd=standing.reserved_usd,
        budget_remaining_usd=None if account.prepaid else remaining,
        balance_usd=remaining if account.prepaid else None,
        credits_usd=nano_to_usd(account.credits_nano) if account.prepaid else None,
        budget_resets_at=None if account.prepaid else _seconds(standing.resets_at),
        keys=keys,
        created_at=int(account.created_at),
        updated_at=_seconds(account.updated_at),
        disabled_at=_seconds(account.disabled_at),
    )


async def account_standing(relay: Relay, account: Account) -> BudgetStanding:
    """The account's standing, after any change this process has not seen yet."""
    await relay.keys.refresh()
    try:
        return await relay.budgets.account_standing(account)
    except Exception as exc:  # Redis (or the ledger) did not answer: say so, not a 500
        raise counters_unavailable(exc) from None


def credit_object(credit: Credit) -> CreditObject:
    return CreditObject(
        id=credit.id,
        account_id=credit.account_id,
        amount_usd=nano_to_usd(credit.amount_nano),
        kind=credit.kind,  # type: ignore[arg-type]
        actor=credit.actor,
        note=credit.note,
        code_id=credit.code_id,
        created_at=int(credit.created_at),
    )


def _code_fields(code: RedemptionCode, now: float) -> dict[str, Any]:
    return {
        "id": code.id,
        "code_prefix": code.code_prefix,
        "amount_usd": nano_to_usd(code.amount_nano),
        "state": code.state(now),
        "created_at": int(code.created_at),
        "expires_at": _seconds(code.expires_at),
        "redeemed_at": _seconds(code.redeemed_at),
        "account_id": code.account_id,
    }


def code_object(code: RedemptionCode, now: float) -> CodeObject:
    return CodeObject(**_code_fields(code, now))


def code_created(code: RedemptionCode, secret: str, now: float) -> CodeCreated:
    return CodeCreated(**_code_fields(code, now), code=secret)


def refused(exc: Exception, subject: str = "") -> RelayError:
    """The API error for an account store exception (or None's caller re-raises)."""
    text = f"{str(exc)[:1].upper()}{str(exc)[1:]}."
    if isinstance(exc, AccountNotFound):
        return RelayError(
            404, f"No account with id {subject!r}.", param="id", code="account_not_found"
        )
    if isinstance(exc, CodeNotFound):
        return RelayError(404, text, param="id", code="code_not_found")
    if isinstance(exc, AccountExists):
        return RelayError(409, text, param="name", code="account_exists")
    if isinstance(exc, AccountInUse):
        return RelayError(409, text, param="id", code="account_in_use")
    if isinstance(exc, NotPrepaid):
        return invalid_request(text, code="not_prepaid")
    if isinstance(exc, CodeRefused):
        return invalid_request(text, param="code", code=exc.reason)
    if isinstance(exc, ValueError):
        return invalid_request(text, code="invalid_value")
    raise exc


async def run_store(operation: Callable[..., Any], *args: Any) -> Any:
    """A blocking account store call in a worker thread, its refusals as API errors."""
    try:
        return await asyncio.to_thread(operation, *args)
    except (
        AccountNotFound,
        AccountExists,
        AccountInUse,
        NotPrepaid,
        CodeRefused,
        CodeNotFound,
        ValueError,
    ) as exc:
        raise refused(exc, str(args[0]) if args else "") from None
