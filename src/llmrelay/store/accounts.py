"""Accounts at rest: teams and customers whose keys share limits and a budget or a balance.

A prepaid account's balance is every credit in `account_credits` (top-ups, redemptions,
adjustments) less everything its keys spent (the ledger's `cost_usd`). The gate enforces it
as a `total`-period budget whose limit is the credits (`Account.limit_nano`), so spending is
reserved and settled by the same books as a key's budget, and cannot go below zero however
many replicas race.

Every change moves the key generation, as key changes do (`store/key_events.py`): each
relay reloads its key table, accounts attached, before its next request (within a second on
other machines), so a top-up or a redeemed code lets requests through again at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from llmrelay.metering.prices import nano_to_usd, usd_to_nano
from llmrelay.store.generation import GenerationCounter
from llmrelay.store.key_events import bump_database_generation
from llmrelay.store.schema import (
    account_credits,
    account_members,
    accounts,
    api_keys,
    member_sessions,
    redemption_codes,
)

CODE_PREFIX = "llmr-"
CREDIT_KINDS = ("topup", "redemption", "adjustment")
ADMIN_ACTOR = "admin"
MAX_CODES = 1000
MAX_CREDITS_NANO = 10**18
"""$1e9: an account's credits together, far below what a 64-bit sum of nano-USD holds."""
BOOK_PREFIX = "acct:"
"""An account's name in the rate-limit and budget books, apart from any key id."""


@dataclass(slots=True, frozen=True)
class Account:
    """One account and what bounds its keys together; `None` limits mean unlimited."""

    id: str
    name: str
    models: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None
    budget_usd: float | None = None
    budget_period: str = "total"
    prepaid: bool = False
    credits_nano: int = 0
    """Every credit ever given (prepaid accounts): the limit their spend is held within."""
    created_at: float = 0.0
    updated_at: float | None = None
    disabled_at: float | None = None

    @property
    def book_id(self) -> str:
        return BOOK_PREFIX + self.id

    @property
    def rate_limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None or self.max_concurrent is not None

    @property
    def limit_nano(self) -> int | None:
        """What its keys may spend together in the period: the credits when prepaid."""
        if self.prepaid:
            return self.credits_nano
        return None if self.budget_usd is None else usd_to_nano(self.budget_usd)

    @property
    def period(self) -> str:
        return "total" if self.prepaid else self.budget_period

    def may_use(self, model: str) -> bool:
        return not self.models or model in self.models


@dataclass(slots=True, frozen=True)
class Credit:
    id: int
    account_id: str
    amount_nano: int
    kind: str
    actor: str
    note: str | None
    code_id: str | None
    created_at: float


@dataclass(slots=True, frozen=True)
class RedemptionCode:
    id: str
    code_prefix: str
    amount_nano: int
    created_at: float
    expires_at: float | None
    redeemed_at: float | None
    account_id: str | None
    created_by: str

    def state(self, now: float) -> str:
        """`unused`, `redeemed` or `expired`."""
        if self.redeemed_at is not None:
            return "redeemed"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "unused"


class AccountExists(Exception):
    pass


class AccountNotFound(Exception):
    pass


class AccountInUse(Exception):
    """Deleting an account that still has keys not revoked."""


class NotPrepaid(Exception):
    """Credits only mean something to a prepaid account."""


class CodeRefused(Exception):
    """A code that is unknown, already redeemed, voided or expired (`reason` says which:
    `code_invalid`, `code_redeemed`, `code_expired`)."""

    def __init__(self, message: str, reason: str = "code_invalid") -> None:
        super().__init__(message)
        self.reason = reason


class CodeNotFound(Exception):
    pass


SETTABLE_FIELDS = (
    "name",
    "models",
    "rpm",
    "tpm",
    "max_concurrent",
    "budget_usd",
    "budget_period",
)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


def new_code() -> str:
    """`llmr-` and 32 URL-safe characters (192 random bits)."""
    return CODE_PREFIX + secrets.token_urlsafe(24)


def _credit_sums(connection: sa.Connection) -> dict[str, int]:
    c = account_credits.c
    query = sa.select(c.account_id, sa.func.sum(c.amount_nano)).group_by(c.account_id)
    return {account_id: int(total or 0) for account_id, total in connection.execute(query)}


def _row_to_account(row: Any, credits: int) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        models=tuple(row.models or ()),
        rpm=row.rpm,
        tpm=row.tpm,
        max_concurrent=row.max_concurrent,
        budget_usd=row.budget_usd,
        budget_period=row.budget_period or "total",
        prepaid=bool(row.prepaid),
        credits_nano=credits,
        created_at=row.created_at,
        updated_at=row.updated_at,
        disabled_at=row.disabled_at,
    )


def _row_to_code(row: Any) -> RedemptionCode:
    return RedemptionCode(
        id=row.id,
        code_prefix=row.code_prefix,
        amount_nano=row.amount_nano,
        created_at=row.created_at,
        expires_at=row.expires_at,
        redeemed_at=row.redeemed_at,
        account_id=row.account_id,
        created_by=row.created_by,
    )


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(SETTABLE_FIELDS)
    if unknown:
        raise ValueError(f"not settable: {', '.join(sorted(unknown))}")
    values = dict(fields)
    if "models" in values:
        values["models"] = list(values["models"] or ())
    return values


def load_accounts(connection: sa.Connection) -> dict[str, Account]:
    """Every account by id, with its credits summed (the key table attaches them)."""
    credits = _credit_sums(connection)
    rows = connection.execute(sa.select(accounts))
    return {row.id: _row_to_account(row, credits.get(row.id, 0)) for row in rows}


class AccountStore:
    """Blocking CRUD over accounts, their credits and redemption codes."""

    def __init__(self, engine: sa.Engine, generation: GenerationCounter | None = None) -> None:
        self.engine = engine
        self.generation = generation

    @contextmanager
    def _changing(self) -> Iterator[sa.Connection]:
        """A transaction that moves the key generation before it commits (so every relay
        reloads its keys and their accounts), and the local counter once it has."""
        with self.engine.begin() as connection:
            yield connection
            bump_database_generation(connection)
        if self.generation is not None:
            self.generation.bump()

    def create(
        self,
        name: str,
        balance_usd: float | None = None,
        actor: str = ADMIN_ACTOR,
        **fields: Any,
    ) -> Account:
        """A new account; with `balance_usd` (even 0) it is prepaid, credited that much."""
        now = time.time()
        prepaid = balance_usd is not None
        values = {
            "budget_period": "total",
            **_columns({"name": name, **fields}),
            "id": "acct_" + secrets.token_hex(8),
            "prepaid": prepaid,
            "created_at": now,
            "updated_at": now,
        }
        if prepaid:
            values["budget_usd"] = None
        try:
            with self._changing() as connection:
                connection.execute(sa.insert(accounts).values(**values))
                if balance_usd:
                    self._credit(connection, values["id"], usd_to_nano(balance_usd), "topup", actor)
        except sa.exc.IntegrityError:
            raise AccountExists(f"an account named {name!r} already exists") from None
        return self.get(values["id"])

    def get(self, account_id: str) -> Account:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
            if row is None:
                raise AccountNotFound(f"no account with id {account_id!r}")
            c = account_credits.c
            total = connection.execute(
                sa.select(sa.func.sum(c.amount_nano)).where(c.account_id == account_id)
            ).scalar()
        return _row_to_account(row, int(total or 0))

    def find(self, name_or_id: str) -> Account:
        """An account by its name or its id (the command line takes either)."""
        c = accounts.c
        query = sa.select(c.id).where(sa.or_(c.name == name_or_id, c.id == name_or_id))
        with self.engine.connect() as connection:
            found = connection.execute(query).scalar()
        if found is None:
            raise AccountNotFound(f"no account named {name_or_id!r}")
        return self.get(found)

    def all(self) -> list[Account]:
        with self.engine.connect() as connection:
            found = load_accounts(connection)
        return sorted(found.values(), key=lambda account: account.created_at)

    def update(self, account_id: str, fields: dict[str, Any]) -> Account:
        """Change settable fields; a `None` limit means unlimited from now on. A prepaid
        account has no budget to set (its balance is its limit)."""
        account = self.get(account_id)
        if account.prepaid and fields.get("budget_usd") is not None:
            raise NotPrepaid("a prepaid account's limit is its balance: top it up instead")
        if fields.get("budget_period", "") is None:
            fields = {**fields, "budget_period": "total"}
        values = {**_columns(fields), "updated_at": time.time()}
        try:
            with self._changing() as connection:
                connection.execute(
                    sa.update(accounts).where(accounts.c.id == account_id).values(**values)
                )
        except sa.exc.IntegrityError:
            raise AccountExists(f"an account named {fields.get('name')!r} already exists") from None
        return self.get(account_id)

    def set_disabled(self, account_id: str, disabled: bool) -> Account:
        self.get(account_id)
        stamp = time.time() if disabled else None
        with self._changing() as connection:
            connection.execute(
                sa.update(accounts)
                .where(accounts.c.id == account_id)
                .values(disabled_at=stamp, updated_at=time.time())
            )
        return self.get(account_id)

    def delete(self, account_id: str) -> Account:
        """Remove an account with no keys but revoked ones (those are detached); its
        credits history, its members and their sessions go with it, its ledger rows stay."""
        account = self.get(account_id)
        k = api_keys.c
        with self._changing() as connection:
            live = connection.execute(
                sa.select(sa.func.count())
                .select_from(api_keys)
                .where(k.account_id == account_id, k.revoked_at.is_(None))
            ).scalar()
            if live:
                raise AccountInUse(
                    f"account {account.name!r} still has {live} key(s): revoke or delete "
                    "them (or move them to another account) first"
                )
            connection.execute(
                sa.update(api_keys).where(k.account_id == account_id).values(account_id=None)
            )
            connection.execute(
                sa.delete(account_credits).where(account_credits.c.account_id == account_id)
            )
            members = sa.select(account_members.c.id).where(
                account_members.c.account_id == account_id
            )
            connection.execute(
                sa.delete(member_sessions).where(member_sessions.c.member_id.in_(members))
            )
            connection.execute(
                sa.delete(account_members).where(account_members.c.account_id == account_id)
            )
            connection.execute(sa.delete(accounts).where(accounts.c.id == account_id))
        return account

    def key_counts(self) -> dict[str, int]:
        """How many keys (not revoked) each account has."""
        k = api_keys.c
        query = (
            sa.select(k.account_id, sa.func.count())
            .where(k.account_id.is_not(None), k.revoked_at.is_(None))
            .group_by(k.account_id)
        )
        with self.engine.connect() as connection:
            return {account_id: int(n) for account_id, n in connection.execute(query)}

    def _credit(
        self,
        connection: sa.Connection,
        account_id: str,
        amount_nano: int,
        kind: str,
        actor: str,
        note: str | None = None,
        code_id: str | None = None,
    ) -> int:
        """Insert one credit, within the account's ceiling: every credit's sum is read by
        the key table's load (64-bit in every database), so it may never pass it."""
        c = account_credits.c
        held = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(c.amount_nano), 0)).where(
                c.account_id == account_id
            )
        ).scalar_one()
        if int(held) + amount_nano > MAX_CREDITS_NANO:
            raise ValueError(
                f"an account holds at most ${nano_to_usd(MAX_CREDITS_NANO):,.0f} of credits"
            )
        inserted = connection.execute(
            sa.insert(account_credits)
            .values(
                account_id=account_id,
                amount_nano=amount_nano,
                kind=kind,
                actor=actor,
                note=note,
                code_id=code_id,
                created_at=time.time(),
            )
            .returning(c.id)
        )
        return int(inserted.scalar_one())

    def credit(
        self,
        account_id: str,
        amount_usd: float,
        kind: str = "topup",
        actor: str = ADMIN_ACTOR,
        note: str | None = None,
    ) -> Credit:
        """Add to (a negative adjustment: take from) a prepaid account's credits."""
        if kind not in CREDIT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CREDIT_KINDS)}")
        if not self.get(account_id).prepaid:
            raise NotPrepaid("this account has a budget, not a prepaid balance")
        with self._changing() as connection:
            credit_id = self._credit(
                connection, account_id, usd_to_nano(amount_usd), kind, actor, note
            )
        return self._credit_row(credit_id)

    def _credit_row(self, credit_id: int) -> Credit:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(account_credits).where(account_credits.c.id == credit_id)
            ).one()
        return Credit(**row._mapping)

    def history(self, account_id: str, limit: int = 100, before: int | None = None) -> list[Credit]:
        """The account's credits, newest first (`before`: only ids below it, to page on)."""
        self.get(account_id)
        c = account_credits.c
        query = sa.select(account_credits).where(c.account_id == account_id)
        if before is not None:
            query = query.where(c.id < before)
        query = query.order_by(c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [Credit(**row._mapping) for row in connection.execute(query)]

    def create_codes(
        self,
        amount_usd: float,
        count: int = 1,
        expires_at: float | None = None,
        actor: str = ADMIN_ACTOR,
    ) -> list[tuple[RedemptionCode, str]]:
        """`count` new codes worth `amount_usd` each; the codes themselves are returned here
        only (their SHA-256 digests are stored)."""
        if not 1 <= count <= MAX_CODES:
            raise ValueError(f"count must be between 1 and {MAX_CODES}")
        now = time.time()
        made = []
        rows = []
        for _ in range(count):
            code = new_code()
            row = {
                "id": "code_" + secrets.token_hex(8),
                "code_hash": hash_code(code),
                "code_prefix": code[:9],
                "amount_nano": usd_to_nano(amount_usd),
                "created_at": now,
                "expires_at": expires_at,
                "redeemed_at": None,
                "account_id": None,
                "created_by": actor,
            }
            rows.append(row)
            made.append((_row_to_code(_Row(row)), code))
        with self.engine.begin() as connection:
            connection.execute(sa.insert(redemption_codes), rows)
        return made

    def codes(self, state: str | None = None) -> list[RedemptionCode]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(redemption_codes).order_by(redemption_codes.c.created_at)
            )
            found = [_row_to_code(row) for row in rows]
        now = time.time()
        return [code for code in found if state is None or code.state(now) == state]

    def void_code(self, code_id: str) -> RedemptionCode:
        """Delete an unused code; a redeemed one stays (it is in an account's history)."""
        r = redemption_codes.c
        with self.engine.begin() as connection:
            row = connection.execute(sa.select(redemption_codes).where(r.id == code_id)).first()
            if row is None:
                raise CodeNotFound(f"no redemption code with id {code_id!r}")
            deleted = connection.execute(
                sa.delete(redemption_codes).where(r.id == code_id, r.redeemed_at.is_(None))
            )
            if deleted.rowcount == 0:
                raise CodeRefused(
                    "this code was redeemed already; it cannot be voided", "code_redeemed"
                )
        return _row_to_code(row)

    def redeem(self, code: str, account_id: str, actor: str) -> Credit:
        """Credit `account_id` with the code's worth, once: see `redeem`."""
        return redeem(self, code, account_id, actor)


class _Row:
    """A dict read as a row's attributes (for codes made here, before they are read back)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def redeem(store: AccountStore, code: str, account_id: str, actor: str) -> Credit:
    """Credit a prepaid account with a code's worth, in one transaction: the code is claimed
    by a conditional `UPDATE ... WHERE redeemed_at IS NULL`, so of any number of relays
    redeeming it at once exactly one updates the row and credits; the others are refused.

    `actor` says who redeemed it (`key:<id>`, `member:<id>`): it goes in the history."""
    if not store.get(account_id).prepaid:
        raise NotPrepaid("this account has a budget, not a prepaid balance: codes add to a balance")
    r = redemption_codes.c
    digest = hash_code(code)
    now = time.time()
    with store._changing() as connection:
        row = connection.execute(sa.select(redemption_codes).where(r.code_hash == digest)).first()
        if row is None:
            raise CodeRefused("this redemption code is not valid")
        if row.expires_at is not None and now >= row.expires_at:
            raise CodeRefused("this redemption code has expired", "code_expired")
        claimed = connection.execute(
            sa.update(redemption_codes)
            .where(r.id == row.id, r.redeemed_at.is_(None))
            .values(redeemed_at=now, account_id=account_id)
        )
        if claimed.rowcount != 1:
            raise CodeRefused("this redemption code was redeemed already", "code_redeemed")
        credit_id = store._credit(
            connection, account_id, row.amount_nano, "redemption", actor, code_id=row.id
        )
    return store._credit_row(credit_id)
