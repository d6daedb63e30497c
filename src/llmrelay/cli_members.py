"""`llmrelay accounts members list | add | role | remove ACCOUNT ...`: the people who sign in
to the console for an account, as the admin API's `/admin/accounts/{id}/members` manages
them. Without `--password`, `add` prints the one-time invitation's path: the relay's own
address in front of it makes the link (`<relay>/console/#/invite/<token>`)."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from llmrelay.cli_support import fail, open_store, settings_of, when


def _stores(args: argparse.Namespace) -> tuple[Any, Any]:
    from llmrelay.store.accounts import AccountNotFound, AccountStore
    from llmrelay.store.members import MemberStore

    keys = open_store(settings_of(args))
    try:
        account = AccountStore(keys.engine, keys.generation).find(args.account)
    except AccountNotFound as exc:
        raise SystemExit(fail(str(exc))) from None
    return account, MemberStore(keys.engine)


def cmd_list(args: argparse.Namespace) -> int:
    account, members = _stores(args)
    found = members.members(account.id)
    if not found:
        print(f"No members in {account.name!r} yet: llmrelay accounts members add ...")
    for member in found:
        state = "active" if member.has_password else "invited"
        print(f"{member.id}\t{member.email}\t{member.role}\t{state}\t{when(member.created_at)}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from llmrelay.store.members import MemberExists

    account, members = _stores(args)
    password = getpass.getpass("Password: ") if args.password else None
    try:
        member, token = members.create(account.id, args.email, args.role, password)
    except (MemberExists, ValueError) as exc:
        return fail(str(exc))
    print(f"Added {member.email} to {account.name!r} as {member.role} ({member.id}).")
    if token is not None:
        print("Invitation, valid once; put the relay's address in front of it:")
        print(f"/console/#/invite/{token}")
    return 0


def cmd_role(args: argparse.Namespace) -> int:
    from llmrelay.store.members import MemberNotFound

    account, members = _stores(args)
    try:
        member = members.set_role(account.id, args.member_id, args.role)
    except (MemberNotFound, ValueError) as exc:
        return fail(str(exc))
    print(f"{member.email} is now {member.role} in {account.name!r}.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from llmrelay.store.members import MemberNotFound

    account, members = _stores(args)
    try:
        member = members.remove(account.id, args.member_id)
    except MemberNotFound as exc:
        return fail(str(exc))
    print(f"Removed {member.email} from {account.name!r}; their sessions have ended.")
    return 0


def add_member_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    from llmrelay.store.members import ROLES

    parser = commands.add_parser("members", help="people who sign in for an account")
    verbs = parser.add_subparsers(dest="members_command", required=True)
    listing = verbs.add_parser("list", parents=[common], help="an account's members")
    listing.add_argument("account", metavar="ACCOUNT")
    listing.set_defaults(func=cmd_list)
    add = verbs.add_parser("add", parents=[common], help="add a member, or invite one")
    add.add_argument("account", metavar="ACCOUNT")
    add.add_argument("email")
    add.add_argument("--role", choices=ROLES, default="member")
    add.add_argument("--password", action="store_true", help="ask for a password (no invite)")
    add.set_defaults(func=cmd_add)
    role = verbs.add_parser("role", parents=[common], help="change a member's role")
    role.add_argument("account", metavar="ACCOUNT")
    role.add_argument("member_id", metavar="MEMBER_ID")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(func=cmd_role)
    remove = verbs.add_parser("remove", parents=[common], help="remove a member")
    remove.add_argument("account", metavar="ACCOUNT")
    remove.add_argument("member_id", metavar="MEMBER_ID")
    remove.set_defaults(func=cmd_remove)
