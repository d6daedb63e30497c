"""The wire shapes of accounts, their balance history and redemption codes (admin and
customer API), typed once as the key shapes are (`admin/shapes.py`)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from llmrelay.admin.shapes import Limit, Models, Name, Period, UnixTime, Usd

CreditUsd = Annotated[float, Meta(gt=0, le=1e6)]
"""One top-up or code: up to $1M (an account holds at most $1e9 of credits in all)."""
Adjustment = Annotated[float, Meta(ge=-1e6, le=1e6)]
Note = Annotated[str, Meta(max_length=500)]
Count = Annotated[int, Meta(ge=1, le=1000)]
AccountStatus = Literal["active", "disabled"]
CodeState = Literal["unused", "redeemed", "expired"]
CreditKind = Literal["topup", "redemption", "adjustment"]


class AccountCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /admin/accounts`: a budget (`budget_usd`, `budget_period`) or a prepaid balance
    (`balance_usd`, the first credit; 0 for an empty one), not both; neither: unlimited."""

    name: Name
    models: Models = []
    rpm: Limit | None = None
    tpm: Limit | None = None
    max_concurrent: Limit | None = None
    budget_usd: Usd | None = None
    budget_period: Period = "total"
    balance_usd: Usd | None = None


class AccountPatch(Struct, forbid_unknown_fields=True, kw_only=True):
    """`PATCH /admin/accounts/{id}`: fields left out stay; null clears a limit. A prepaid
    account's balance changes by top-ups, not here; `disabled` refuses all its keys."""

    name: Name | UnsetType = UNSET
    models: Models | UnsetType | None = UNSET
    rpm: Limit | UnsetType | None = UNSET
    tpm: Limit | UnsetType | None = UNSET
    max_concurrent: Limit | UnsetType | None = UNSET
    budget_usd: Usd | UnsetType | None = UNSET
    budget_period: Period | UnsetType | None = UNSET
    disabled: bool | UnsetType = UNSET


class AccountObject(Struct, kw_only=True):
    id: str
    object: Literal["account"] = "account"
    name: str
    status: AccountStatus
    mode: Literal["budget", "prepaid"]
    models: list[str]
    rpm: int | None
    tpm: int | None
    max_concurrent: int | None
    budget_usd: float | None
    budget_period: Period
    spend_usd: float
    """Spent this period (all time for a prepaid account)."""
    reserved_usd: float
    """Held by requests still running."""
    budget_remaining_usd: float | None
    """Budget mode: what is left this period (null: no budget)."""
    balance_usd: float | None
    """Prepaid mode: credits less spend and what running requests hold."""
    credits_usd: float | None
    budget_resets_at: int | None
    keys: int
    created_at: int
    updated_at: int | None
    disabled_at: int | None


class AccountList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[AccountObject]


class AccountDeleted(Struct, kw_only=True):
    id: str
    object: Literal["account"] = "account"
    deleted: bool = True


class TopUp(Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /admin/accounts/{id}/topup`: `amount_usd` above 0; `kind: adjustment` takes a
    signed amount (negative to debit)."""

    amount_usd: Adjustment
    note: Note | None = None
    kind: Literal["topup", "adjustment"] = "topup"


class CreditObject(Struct, kw_only=True):
    id: int
    object: Literal["account.credit"] = "account.credit"
    account_id: str
    amount_usd: float
    kind: CreditKind
    actor: str
    note: str | None
    code_id: str | None
    created_at: int


class CreditList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[CreditObject]
    has_more: bool


class CodesCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /admin/redemption-codes`: `count` codes worth `amount_usd` each."""

    amount_usd: CreditUsd
    count: Count = 1
    expires_at: UnixTime | None = None


class CodeObject(Struct, kw_only=True):
    id: str
    object: Literal["redemption_code"] = "redemption_code"
    code_prefix: str
    amount_usd: float
    state: CodeState
    created_at: int
    expires_at: int | None
    redeemed_at: int | None
    account_id: str | None


class CodeCreated(CodeObject, kw_only=True):
    """A code with its secret: shown when created, never again."""

    code: str


class CodesCreated(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[CodeCreated]


class CodeList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[CodeObject]


class CodeVoided(Struct, kw_only=True):
    id: str
    object: Literal["redemption_code"] = "redemption_code"
    deleted: bool = True


class Redeem(Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /v1/account/redeem`."""

    code: Annotated[str, Meta(min_length=1, max_length=200)]


class Redeemed(Struct, kw_only=True):
    credit: CreditObject
    account: AccountObject
