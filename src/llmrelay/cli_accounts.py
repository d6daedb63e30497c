"""`llmrelay accounts create | list | show | update | disable | enable | delete | topup |
history | codes | members`.

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

from llmrelay.cli_members import add_member_commands
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


def _checked_body(fields: dict[str, Any], patch: bool = False) -> dict[str, Any] | None:
    """`fields` checked as the admin API checks a body; None (and a message) if refused."""
    from llmrelay.admin.accounts import account_create_fields, account_patch_fields
    from llmrelay.protocol.errors import RelayError

    reader = account_patch_fields if patch else account_create_fields
    try:
        return reader(json.dumps(fields).encode(), lambda _name: True)
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


def cmd_update(args: argparse.Namespace) -> int:
    from llmrelay.store.accounts import AccountExists, NotPrepaid

    fields = {name: getattr(args, name) for name in LIMIT_OPTIONS if hasattr(args, name)}
    if isinstance(fields.get("models"), str):
        fields["models"] = [m.strip() for m in fields["models"].split(",") if m.strip()]
    if not fields:
        return fail("nothing to change: give --rpm, --tpm, --max-concurrent, --budget-usd, ...", 2)
    checked = _checked_body(fields, patch=True)
    if checked is None:
        return 2
    store = _store(args)
    account = _find(store, args.account)
    try:
        account = store.update(account.id, checked)
    except (AccountExists, NotPrepaid) as exc:
        return fail(str(exc))
    print(f"Updated account {account.name!r}: {describe(store, account)}.")
    return 0


def _switch(disabled: bool) -> Any:
    def command(args: argparse.Namespace) -> int:
        store = _store(args)
        account = store.set_disabled(_find(store, args.account).id, disabled)
        print(f"Account {account.name!r} is {'disabled' if disabled else 'enabled'}.")
        return 0

    return command


def cmd_delete(args: argparse.Namespace) -> int:
    from llmrelay.store.accounts import AccountInUse

    store = _store(args)
    try:
        account = store.delete(_find(store, args.account).id)
    except AccountInUse as exc:
        return fail(str(exc))
    print(f"Deleted account {account.name!r}.")
    return 0


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


def cmd_codes_void(args: argparse.Namespace) -> int:
    from llmrelay.store.accounts import CodeNotFound, CodeRefused

    try:
        code = _store(args).void_code(args.code_id)
    except (CodeNotFound, CodeRefused) as exc:
        return fail(str(exc))
    print(f"Voided code {code.id} ({code.code_prefix}...).")
    return 0


LIMIT_OPTIONS = ("name", "models", "budget_usd", "budget_period", "rpm", "tpm", "max_concurrent")
"""What `accounts update` may change (a prepaid account's money changes by `topup`)."""


def _add_update(commands: Any, common: argparse.ArgumentParser) -> None:
    keep = argparse.SUPPRESS
    update = commands.add_parser("update", parents=[common], help="change an account's limits")
    update.add_argument("account", metavar="NAME_OR_ID")
    update.add_argument("--name", default=keep)
    update.add_argument("--models", default=keep, help="comma-separated allowlist ('' for all)")
    update.add_argument("--budget-usd", type=nullable(finite), default=keep)
    update.add_argument("--budget-period", choices=["total", "daily", "weekly", "monthly"],
                        default=keep)  # fmt: skip
    for name in ("rpm", "tpm", "max-concurrent"):
        update.add_argument(f"--{name}", type=nullable(int), default=keep, help="or none")
    update.set_defaults(func=cmd_update)
    for verb, func, text in (
        ("disable", _switch(True), "refuse every key of the account"),
        ("enable", _switch(False), "let the account's keys in again"),
        ("delete", cmd_delete, "delete an account with no live keys"),
    ):
        parser = commands.add_parser(verb, parents=[common], help=text)
        parser.add_argument("account", metavar="NAME_OR_ID")
        parser.set_defaults(func=func)


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
    void = code_commands.add_parser("void", parents=[common], help="void a code not redeemed")
    void.add_argument("code_id", metavar="CODE_ID")
    void.set_defaults(func=cmd_codes_void)
    _add_update(commands, common)
    add_member_commands(commands, common)
