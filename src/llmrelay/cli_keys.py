"""`llmrelay keys create | list | update | disable | enable | rotate | revoke | delete`.

Options are checked by the same code as the admin API's bodies, so a key made here is one
the API would have accepted. Every change moves the shared generation counter: running
relays refuse or accept the key on their very next request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from llmrelay.cli_support import (
    NONE_WORDS,
    fail,
    finite,
    nullable,
    open_store,
    settings_of,
    unix_time,
    when,
)
from llmrelay.config import Settings
from llmrelay.store.keys import ApiKey, KeyStore

LIMITS = ("budget_usd", "budget_period", "expires_at", "rpm", "tpm", "max_concurrent")


def json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """Options `create` and `update` share. Left out, they are not set; `none` clears one."""
    option = parser.add_argument
    keep = argparse.SUPPRESS
    option("--models", default=keep, help="comma-separated allowlist ('*' for every model)")
    option("--budget-usd", type=nullable(finite), default=keep, help="USD per period, or none")
    option("--budget-period", choices=["total", "daily", "weekly", "monthly"], default=keep)
    option("--expires-at", type=nullable(unix_time), default=keep, help="ISO date or Unix time")
    option("--rpm", type=nullable(int), default=keep, help="requests per minute, or none")
    option("--tpm", type=nullable(int), default=keep, help="tokens per minute, or none")
    option("--max-concurrent", type=nullable(int), default=keep, help="requests at once")
    option(
        "--allow-ip",
        action="append",
        dest="allowed_ips",
        default=keep,
        help="CIDR or address it may be used from (repeatable; 'any' clears the list)",
    )
    option("--metadata", type=json_object, default=keep, help="a JSON object")
    option("--account", default=keep, help="the account (name or id) it belongs to, or none")


def limit_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The options given, as an admin API body would carry them."""
    fields = {name: getattr(args, name) for name in (*LIMITS, "metadata") if hasattr(args, name)}
    if hasattr(args, "models"):
        fields["models"] = [m.strip() for m in args.models.split(",") if m.strip() not in ("", "*")]
    if hasattr(args, "allowed_ips"):
        fields["allowed_ips"] = [ip for ip in args.allowed_ips if ip.lower() != "any"]
    return fields


def _checked(settings: Settings, fields: dict[str, Any], patch: bool) -> dict[str, Any] | None:
    """`fields` checked like the admin API checks a body; None (and a message) if refused."""
    from llmrelay.admin.key_bodies import key_create_fields, key_patch_fields
    from llmrelay.protocol.errors import RelayError

    names = set(settings.models) | {a for m in settings.models.values() for a in m.aliases}
    reader = key_patch_fields if patch else key_create_fields
    try:
        return reader(json.dumps(fields).encode(), names.__contains__)
    except RelayError as exc:
        message = exc.message.replace("list the models with GET /admin/models", "see `models`")
        print(f"error: {message}", file=sys.stderr)
        return None


def describe(key: ApiKey) -> str:
    """A key's limits in a few words."""
    parts = [", ".join(key.models) if key.models else "all models"]
    if key.budget_usd is not None:
        parts.append(f"${key.budget_usd:g} {key.budget_period}")
    parts += [f"{v} {n}" for n, v in (("rpm", key.rpm), ("tpm", key.tpm)) if v is not None]
    if key.max_concurrent is not None:
        parts.append(f"{key.max_concurrent} at once")
    if key.expires_at is not None:
        parts.append("expires " + when(key.expires_at))
    if key.allowed_ips:
        parts.append("from " + ", ".join(key.allowed_ips))
    if key.account_id is not None:
        parts.append("in account " + key.account_id)
    return "; ".join(parts)


def _create(store: KeyStore, fields: dict[str, Any], named: bool) -> tuple[ApiKey, str]:
    """The new key and its secret; a made-up name that is already taken is made up again."""
    from llmrelay.store.keys import KeyExists, new_key_name

    for _attempt in range(2):
        try:
            return store.create(**fields)
        except KeyExists:
            if named:
                raise
            fields = {**fields, "name": new_key_name()}
    return store.create(**fields)


def cmd_create(args: argparse.Namespace) -> int:
    from llmrelay.store.keys import KeyExists, new_key_name

    settings = settings_of(args)
    named = args.name is not None
    name = args.name if named else new_key_name()
    fields = _checked(settings, {"name": name, **limit_fields(args)}, patch=False)
    if fields is None:
        return 2
    store = open_store(settings)
    if not _in_account(store, fields, getattr(args, "account", None)):
        return 2
    try:
        key, secret = _create(store, fields, named)
    except KeyExists as exc:
        return fail(str(exc))
    print(f"Created key {key.name!r} ({key.id}) for {describe(key)}.")
    print("Store it now: it is shown only this once.")
    print(secret)
    return 0


def _in_account(
    store: KeyStore, fields: dict[str, Any], account: str | None, key: ApiKey | None = None
) -> bool:
    """Put the account named by `--account` in `fields`, checked as the admin API checks a
    key's account (its limits can only narrow the account's); False (and why) if refused."""
    from llmrelay.admin.key_account import check_key_fields
    from llmrelay.protocol.errors import RelayError
    from llmrelay.store.accounts import AccountNotFound, AccountStore

    accounts = AccountStore(store.engine)
    if account is not None:
        if account.lower() in NONE_WORDS:
            fields["account_id"] = None
        else:
            try:
                fields["account_id"] = accounts.find(account).id
            except AccountNotFound as exc:
                print(f"error: {exc}", file=sys.stderr)
                return False
    try:
        check_key_fields(accounts, fields, key)
    except RelayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return False
    return True


def cmd_update(args: argparse.Namespace) -> int:
    from llmrelay.store.keys import KeyExists, KeyNotFound

    settings = settings_of(args)
    given = limit_fields(args)
    if args.name is not None:
        given["name"] = args.name
    fields = _checked(settings, given, patch=True)
    if fields is None:
        return 2
    store = open_store(settings)
    try:
        current = store.find(args.key)
        if not _in_account(store, fields, getattr(args, "account", None), current):
            return 2
        key = store.update(current.id, fields)
    except (KeyNotFound, KeyExists) as exc:
        return fail(str(exc))
    print(f"Updated key {key.name!r} ({key.id}): {describe(key)}.")
    return 0


def _change(verb: str, action: Callable[[KeyStore, str], Any]) -> Callable[..., int]:
    def command(args: argparse.Namespace) -> int:
        from llmrelay.store.keys import KeyNotFound, KeyRevoked

        store = open_store(settings_of(args))
        try:
            result = action(store, store.find(args.key).id)
        except (KeyNotFound, KeyRevoked) as exc:
            return fail(str(exc))
        key, secret = result if isinstance(result, tuple) else (result, None)
        print(f"{verb} key {key.name!r} ({key.id}).")
        if secret is not None:
            print("The old secret no longer works. Store the new one now: it is shown once.")
            print(secret)
        return 0

    return command


def _standings(store: KeyStore, keys: list[ApiKey]) -> list[Any]:
    """Each key's spend this period, from the ledger (reservations live in the relays)."""
    from llmrelay.gate.budget_book import LocalBudgetBook
    from llmrelay.gate.budgets import Budgets
    from llmrelay.store.usage import UsageStore

    budgets = Budgets(LocalBudgetBook(), UsageStore(store.engine))

    async def all_standings() -> list[Any]:
        return [await budgets.standing(key) for key in keys]

    return asyncio.run(all_standings())


def cmd_list(args: argparse.Namespace) -> int:
    import msgspec

    from llmrelay.admin.key_object import key_object

    store = open_store(settings_of(args))
    now = time.time()
    keys = [k for k in store.all() if args.status is None or k.status(now) == args.status]
    if args.json:
        objects = [
            key_object(k, s, now) for k, s in zip(keys, _standings(store, keys), strict=True)
        ]
        print(json.dumps(msgspec.to_builtins(objects), indent=2))
        return 0
    if not keys:
        print("No keys yet. Create one: llmrelay keys create --name NAME")
        return 0
    print(f"{'NAME':24} {'ID':22} {'PREFIX':10} {'STATUS':8} {'MODELS':24} LIMITS")
    for key in keys:
        models = ",".join(key.models) or "*"
        limits = describe(key).split("; ", 1)[1:] or ["-"]
        print(
            f"{key.name:24} {key.id:22} {key.key_prefix + '…':10} {key.status(now):8} "
            f"{models:24} {limits[0]}"
        )
    return 0


COMMANDS: dict[str, tuple[str, Callable[..., int]]] = {
    "disable": ("refuse a key until enabled again", _change("Disabled", KeyStore.disable)),
    "enable": ("accept a disabled key again", _change("Enabled", KeyStore.enable)),
    "rotate": ("give a key a new secret; prints it once", _change("Rotated", KeyStore.rotate)),
    "revoke": ("refuse a key for good", _change("Revoked", KeyStore.revoke)),
    "delete": ("remove a key (its usage stays)", _change("Deleted", KeyStore.delete)),
}


def add_key_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", parents=[common], help="create a key; prints it once")
    create.add_argument("--name", help="what to call it (default: a new name, key-xxxxxxxx)")
    add_limit_options(create)
    create.set_defaults(func=cmd_create)
    listing = keys.add_parser("list", parents=[common], help="list keys, their status and limits")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--status", choices=["active", "disabled", "expired", "revoked"])
    listing.set_defaults(func=cmd_list)
    update = keys.add_parser("update", parents=[common], help="change a key's name or limits")
    update.add_argument("key", metavar="NAME_OR_ID")
    update.add_argument("--name", help="a new name")
    add_limit_options(update)
    update.set_defaults(func=cmd_update)
    for action, (summary, command) in COMMANDS.items():
        parser = keys.add_parser(action, parents=[common], help=summary)
        parser.add_argument("key", metavar="NAME_OR_ID")
        parser.set_defaults(func=command)
