"""`llmrelay accounts create | list | show | topup | history | codes`.

Bodies are checked by the same code as the admin API's; every change moves the shared key
generation, so running relays apply it before their next request. Spend shown here is the
ledger's (requests still running are not counted; the admin API shows those too).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from llmrelay.cli_support import fail, finite, nullable, open_store, settings_of, unix_time, when
from llmrelay.metering.prices import nano_to_usd


def _store(args: argparse.Namespace) -> Any:
    from llmrelay.store.accounts import AccountStore

    keys = open_store(settings_of(args))
    return AccountStore(keys.engine, keys.generation)


def _spend(store: Any, account: Any) -> float:
    from llmrelay.gate.periods import period_bounds
    from llmrelay.store.usage import UsageStore

    start, _ = period_bounds(account.period, time.time())
    return UsageStore(store.engine).spend_since(account.id, start, "account_id")


def describe(store: Any, account: Any) -> str:
    spend = _spend(store, account)
    parts = [", ".join(account.models) if account.models else "all models"]
    if account.prepaid:
        credits = nano_to_usd(account.credits_nano)
        parts.append(f"balance ${credits - spend:.6g} (credited ${credits:g}, spent ${spend:.6g})")
    elif account.budget_usd is not None:
        parts.append(f"${account.budget_usd:g} {account.budget_period}, spent ${spend:.6g}")
    else:
        parts.append(f"no budget, spent ${spend:.6g}")
    for name in ("rpm", "tpm", "max_concurrent"):
        if getattr(account, name) is not None:
            parts.append(f"{getattr(account, name)} {name}")
    if account.disabled_at is not None:
        parts.append("disabled")
    return "; ".join(parts)


def _checked_body(fields: dict[str, Any]) -> dict[str, Any] | None:
    from llmrelay.admin.accounts import _create_fields
    from llmrelay.protocol.errors import RelayError

    try:
        return _create_fields(json.dumps(fields).encode(), lambda _name: True)
    except RelayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return None


def cmd_create(args: argparse.Namespace) -> int:
    from llmrelay.store.accounts import AccountExists

    fields: dict[str, Any] = {"name": args.name}
    for name in ("budget_usd", "budget_period", "balance_usd", "rpm", "tpm", "max_concurrent"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.models:
        fields["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    checked = _checked_body(fields)
    if checked is None:
        return 2
    store = _store(args)
    try:
        account = store.create(**checked)
    except AccountExists as exc:
        return fail(str(exc))
    print(f"Created account {account.name!r} ({account.id}): {describe(store, account)}.")
    return 0


def _find(store: Any, name: str) -> Any:
    from llmrelay.store.accounts import AccountNotFound

    try:
        return store.find(name)
    except AccountNotFound as exc:
        raise SystemExit(fail(str(exc))) from None


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    found = store.all()
    if not found:
        print("No accounts yet. Create one: llmrelay accounts create NAME --balance-usd 10")
    for account in found:
        print(f"{account.name}\t{account.id}\t{describe(store, account)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _store(args)
    account = _find(store, args.account)
    print(f"{account.name} ({account.id}): {describe(store, account)}.")
    return 0


def cmd_topup(args: argparse.Namespace) -> int:
    from llmrelay.store.accounts import NotPrepaid

    store = _store(args)
    account = _find(store, args.account)
    kind = "adjustment" if args.adjust else "topup"
    if kind == "topup" and args.amount_usd <= 0:
        return fail("a top-up adds more than $0 (--adjust takes from a balance)", 2)
    try:
        store.credit(account.id, args.amount_usd, kind, "admin", args.note)
    except NotPrepaid as exc:
        return fail(str(exc))
    print(f"Credited ${args.amount_usd:g}: {describe(store, store.get(account.id))}.")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    store = _store(args)
    account = _find(store, args.account)
    for credit in store.history(account.id):
        note = f"\t{credit.note}" if credit.note else ""
        amount = nano_to_usd(credit.amount_nano)
        print(f"{when(credit.created_at)}\t{credit.kind}\t${amount:g}\t{credit.actor}{note}")
    return 0


def cmd_codes_create(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.amount_usd <= 0:
        return fail("a code is worth more than $0", 2)
    try:
        made = store.create_codes(args.amount_usd, args.count, args.expires_at)
    except ValueError as exc:
        return fail(str(exc), 2)
    print(f"Made {len(made)} code(s) worth ${args.amount_usd:g}; shown only this once:")
    for _code, secret in made:
        print(secret)
    return 0


def cmd_codes_list(args: argparse.Namespace) -> int:
    store = _store(args)
    now = time.time()
    for code in store.codes():
        worth = nano_to_usd(code.amount_nano)
        print(f"{code.id}\t{code.code_prefix}...\t${worth:g}\t{code.state(now)}")
    return 0


def add_account_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    accounts = sub.add_parser("accounts", help="teams and customers that own keys")
    commands = accounts.add_subparsers(dest="accounts_command", required=True)
    create = commands.add_parser("create", parents=[common], help="create an account")
    create.add_argument("name")
    create.add_argument("--budget-usd", type=finite, help="a budget per period")
    create.add_argument("--budget-period", choices=["total", "daily", "weekly", "monthly"])
    create.add_argument("--balance-usd", type=finite, help="prepaid: the first credit (or 0)")
    create.add_argument("--models", help="comma-separated allowlist")
    for name in ("rpm", "tpm", "max-concurrent"):
        create.add_argument(f"--{name}", type=nullable(int))
    create.set_defaults(func=cmd_create)
    commands.add_parser("list", parents=[common], help="list accounts").set_defaults(func=cmd_list)
    for verb, func, text in (
        ("show", cmd_show, "one account"),
        ("history", cmd_history, "a prepaid account's credits, newest first"),
    ):
        parser = commands.add_parser(verb, parents=[common], help=text)
        parser.add_argument("account", metavar="NAME_OR_ID")
        parser.set_defaults(func=func)
    topup = commands.add_parser("topup", parents=[common], help="credit a prepaid account")
    topup.add_argument("account", metavar="NAME_OR_ID")
    topup.add_argument("amount_usd", type=finite)
    topup.add_argument("--note")
    topup.add_argument("--adjust", action="store_true", help="an adjustment (may be negative)")
    topup.set_defaults(func=cmd_topup)
    codes = commands.add_parser("codes", help="redemption codes")
    code_commands = codes.add_subparsers(dest="codes_command", required=True)
    make = code_commands.add_parser("create", parents=[common], help="make codes, shown once")
    make.add_argument("amount_usd", type=finite)
    make.add_argument("--count", type=int, default=1)
    make.add_argument("--expires-at", type=unix_time, help="ISO date or Unix time")
    make.set_defaults(func=cmd_codes_create)
    listing = code_commands.add_parser("list", parents=[common], help="codes and their state")
    listing.set_defaults(func=cmd_codes_list)
