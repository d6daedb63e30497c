"""What every `llmrelay` subcommand that changes the store shares: its settings, the key
store with its generation counter, option parsers and how a failure is printed."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from llmrelay.config import Settings, load_settings
from llmrelay.store.keys import KeyStore

NONE_WORDS = ("none", "null", "unlimited")


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, data_dir=args.data_dir)


def open_store(settings: Settings) -> KeyStore:
    """The key store, with the generation counter every change moves (and announces)."""
    from llmrelay.store.database import migrate, open_engine
    from llmrelay.store.generation import GenerationCounter

    engine = open_engine(settings.database_url)
    migrate(engine)
    generation = GenerationCounter(settings.data_path / "keys.generation")
    redis_url = settings.server.redis_url
    if redis_url:
        from llmrelay.store.key_events import announce_through

        generation.announce = announce_through(redis_url)
    return KeyStore(engine, generation)


def nullable(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in NONE_WORDS else kind(text)

    parse.__name__ = kind.__name__
    return parse


def finite(text: str) -> float:
    """A number, refused (like the API refuses it) if it is not finite."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def unix_time(text: str) -> float:
    """A Unix time, or an ISO date or date-time (UTC unless it says otherwise)."""
    try:
        return finite(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a Unix time nor an ISO date such as 2027-01-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
