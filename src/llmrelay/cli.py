"""`llmrelay serve | keys | models | usage`: a thin command line over the library."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from llmrelay.config import ConfigError, Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=args.data_dir,
    )


def _open_keys(settings: Settings):
    from llmrelay.store.database import migrate, open_engine
    from llmrelay.store.generation import GenerationCounter
    from llmrelay.store.keys import KeyStore

    engine = open_engine(settings.database_url)
    migrate(engine)
    return KeyStore(engine), GenerationCounter(settings.data_path / "keys.generation")


def cmd_serve(args: argparse.Namespace) -> int:
    from llmrelay.server import serve

    return serve(_settings(args))


def cmd_keys_create(args: argparse.Namespace) -> int:
    from llmrelay.store.keys import KeyExists

    settings = _settings(args)
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()]
    unknown = [m for m in models if m not in settings.models]
    if unknown:
        print(f"error: unknown model(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    keys, generation = _open_keys(settings)
    try:
        record, secret = keys.create(args.name, models)
    except KeyExists as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    generation.bump()
    allowed = ", ".join(record.models) if record.models else "all models"
    print(f"Created key {record.name!r} ({record.id}) for {allowed}.")
    print("Store it now: it is shown only this once.")
    print(secret)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    keys, _ = _open_keys(_settings(args))
    records = keys.all()
    if args.json:
        print(json.dumps([r.public() for r in records], indent=2))
        return 0
    if not records:
        print("No keys yet. Create one: llmrelay keys create --name NAME")
        return 0
    print(f"{'NAME':24} {'ID':22} {'PREFIX':10} {'STATUS':8} MODELS")
    for r in records:
        status = "revoked" if r.revoked_at else "active"
        models = ",".join(r.models) or "*"
        print(f"{r.name:24} {r.id:22} {r.key_prefix + '…':10} {status:8} {models}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from llmrelay.store.keys import KeyNotFound

    keys, generation = _open_keys(_settings(args))
    try:
        record = keys.revoke(args.name)
    except KeyNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    generation.bump()
    print(f"Revoked key {record.name!r} ({record.id}).")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"{'MODEL':32} {'PROVIDER':16} {'TYPE':8} UPSTREAM MODEL")
    for name, model in settings.models.items():
        for deployment in model.deployment_list(name):
            kind = type(settings.providers[deployment.provider]).__struct_config__.tag
            upstream = deployment.upstream_model or name
            print(f"{name:32} {deployment.provider:16} {kind!s:8} {upstream}")
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    from llmrelay.store.database import migrate, open_engine
    from llmrelay.store.usage import UsageStore

    settings = _settings(args)
    engine = open_engine(settings.database_url)
    migrate(engine)
    since = time.time() - args.days * 86400 if args.days else None
    rows = UsageStore(engine).summary(since)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No usage recorded yet.")
        return 0
    print(
        f"{'KEY':20} {'MODEL':28} {'REQUESTS':>9} {'ERRORS':>7} {'PROMPT':>9} "
        f"{'COMPLETION':>11} {'TOTAL':>9}"
    )
    for r in rows:
        print(
            f"{r['key_name'] or '-':20} {r['model'] or '-':28} {r['requests']:>9} "
            f"{r['errors']:>7} {r['prompt_tokens']:>9} {r['completion_tokens']:>11} "
            f"{r['total_tokens']:>9}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML config file (env LLMRELAY_CONFIG)")
    common.add_argument("--data-dir", help="state directory (env LLMRELAY_DATA_DIR; ./data)")
    parser = argparse.ArgumentParser(prog="llmrelay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="run the relay")
    serve.add_argument("--host", help="bind address (env LLMRELAY_HOST; 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env LLMRELAY_PORT; 8080)")
    serve.set_defaults(func=cmd_serve)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", parents=[common], help="create a key; prints it once")
    create.add_argument("--name", required=True)
    create.add_argument("--models", help="comma-separated allowlist (default: all models)")
    create.set_defaults(func=cmd_keys_create)
    listing = keys.add_parser("list", parents=[common], help="list keys")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys.add_parser("revoke", parents=[common], help="revoke a key by name or id")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_keys_revoke)

    models = sub.add_parser("models", parents=[common], help="list configured models")
    models.set_defaults(func=cmd_models)

    usage = sub.add_parser("usage", parents=[common], help="summarise the usage ledger")
    usage.add_argument("--days", type=float, help="only the last N days")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(func=cmd_usage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"llmrelay: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
