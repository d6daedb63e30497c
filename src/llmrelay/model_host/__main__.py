"""`python -m llmrelay.model_host --config FILE --data-dir DIR [--socket PATH]`.

Reads the settings as `llmrelay serve` does, loads the embedded models some configured model
uses (providers of type `local` and `local-embeddings`, nothing else), then serves them on
the socket (default: `model-host.sock` in the data directory) and says so on one line:
`llmrelay model host: ready on PATH`. SIGTERM or SIGINT stops it; it removes its socket.
Exit status: 2 for a configuration error, 1 when a model or the socket cannot be had.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from llmrelay.config import ConfigError, Settings, load_settings
from llmrelay.model_host import MODEL_HOST_ENV, default_socket
from llmrelay.model_host.server import HostError, ModelHost
from llmrelay.providers import build_local_providers
from llmrelay.providers.local_engine import LocalModelUnavailable

PROG = "python -m llmrelay.model_host"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Load the relay's embedded models once and serve them to its workers "
        f"(each started with {MODEL_HOST_ENV}=SOCKET).",
    )
    parser.add_argument("--config", help="YAML config file (env LLMRELAY_CONFIG)")
    parser.add_argument("--data-dir", help="state directory (env LLMRELAY_DATA_DIR; ./data)")
    parser.add_argument("--socket", help="Unix socket to serve on (DATA_DIR/model-host.sock)")
    return parser


async def serve_models(settings: Settings, path: Path) -> None:
    host = ModelHost(build_local_providers(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await host.start()
        server = await host.listen(path)
        names = ", ".join(host.providers) or "none"
        print(f"llmrelay model host: ready on {path} (providers: {names})", flush=True)
        await stop.wait()
        server.close()
    finally:
        await host.close()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config, data_dir=args.data_dir)
    except ConfigError as exc:
        print(f"llmrelay model host: configuration error: {exc}", file=sys.stderr)
        return 2
    path = Path(args.socket) if args.socket else default_socket(settings.data_path)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve_models(settings, path.absolute()))
    except (HostError, LocalModelUnavailable) as exc:
        print(f"llmrelay model host: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
