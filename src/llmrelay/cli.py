"""`llmrelay serve | keys | accounts | models | usage | config`: a thin command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from llmrelay.cli_accounts import add_account_commands
from llmrelay.cli_keys import add_key_commands
from llmrelay.config import ConfigError, Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=args.data_dir,
        workers=getattr(args, "workers", None),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from llmrelay.server import serve

    given = {"--config": args.config, "--data-dir": args.data_dir}
    given |= {"--host": args.host, "--port": args.port}
    worker_args = [text for flag, value in given.items() if value for text in (flag, str(value))]
    return serve(_settings(args), worker_args)


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
        f"{'COMPLETION':>11} {'TOTAL':>9} {'COST_USD':>11}"
    )
    for r in rows:
        print(
            f"{r['key_name'] or '-':20} {r['model'] or '-':28} {r['requests']:>9} "
            f"{r['errors']:>7} {r['prompt_tokens']:>9} {r['completion_tokens']:>11} "
            f"{r['total_tokens']:>9} {r['cost_usd'] or 0:>11.6f}"
        )
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from llmrelay.config_check import check

    return check(args.file, args.probe, args.timeout)


def add_config_commands(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="check a configuration file")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser(
        "check", help="validate FILE and print what it would serve (exit 2 if invalid)"
    )
    check.add_argument("file", metavar="FILE", help="the YAML configuration to check")
    check.add_argument(
        "--probe",
        action="store_true",
        help="also send a one-token request to each deployment (exit 1 if any fails)",
    )
    check.add_argument(
        "--timeout", type=float, default=30.0, help="seconds each probe may take (30)"
    )
    check.set_defaults(func=cmd_config_check)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML config file (env LLMRELAY_CONFIG)")
    common.add_argument("--data-dir", help="state directory (env LLMRELAY_DATA_DIR; ./data)")
    parser = argparse.ArgumentParser(prog="llmrelay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="run the relay")
    serve.add_argument("--host", help="bind address (env LLMRELAY_HOST; 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env LLMRELAY_PORT; 8080)")
    serve.add_argument(
        "--workers", help="worker processes, or 'auto' for one per core (env LLMRELAY_WORKERS; 1)"
    )
    serve.set_defaults(func=cmd_serve)

    add_key_commands(sub, common)
    add_account_commands(sub, common)

    models = sub.add_parser("models", parents=[common], help="list configured models")
    models.set_defaults(func=cmd_models)

    usage = sub.add_parser("usage", parents=[common], help="summarise the usage ledger")
    usage.add_argument("--days", type=float, help="only the last N days")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(func=cmd_usage)

    add_config_commands(sub)
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
