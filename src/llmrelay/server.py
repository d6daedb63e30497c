"""Running the relay under uvicorn (uvloop + httptools), and the start-up banner."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shlex
import socket
import sys
from collections.abc import Callable

import uvicorn

from llmrelay.app import create_app
from llmrelay.config import Settings
from llmrelay.connections import connection_cap, guarded_protocol, raise_fd_limit
from llmrelay.drain import Drain
from llmrelay.observe.json_logs import JsonFormatter
from llmrelay.providers.credentials import Scrubber, all_credentials, hide_in_logs
from llmrelay.relay import prepare_installation
from llmrelay.shutdown import DrainingServer
from llmrelay.supervisor import Supervisor
from llmrelay.tracing import require_otel
from llmrelay.worker_role import worker_count, worker_role

SEED_QUESTION = "你好,请介绍一下你自己"
BACKLOG = 4096


def banner(settings: Settings, new_admin_key: str | None) -> str:
    host = settings.server.host
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown_host}:{settings.server.port}"
    model = next(iter(settings.models), "MODEL")
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": SEED_QUESTION}]},
        ensure_ascii=False,
    )
    lines = [f"llmrelay is ready on {base}  (models: {', '.join(settings.models) or 'none'})"]
    if new_admin_key:
        lines += [
            "",
            "Your admin key (shown only this once; only its hash is stored):",
            f"  {new_admin_key}",
        ]
        token = new_admin_key
    else:
        lines += [
            "",
            "Create an API key for a client (it is printed on the last line; without --name",
            "it gets a name of its own):",
            "  export LLMRELAY_KEY=$(.venv/bin/llmrelay keys create | tail -n 1)",
        ]
        token = "$LLMRELAY_KEY"
    lines += [
        "",
        "Try it:",
        f"  curl {base}/v1/chat/completions \\",
        f'    -H "Authorization: Bearer {token}" -H "Content-Type: application/json" \\',
        f"    -d {shlex.quote(body)}",
        "",
        f"Web console: {base}/console  (sign in with the admin key, or a customer's API key)",
        "More: .venv/bin/llmrelay keys create --name NAME | keys list | keys revoke NAME",
    ]
    return "\n".join(lines)


class _ListeningServer(DrainingServer):
    """uvicorn's server, announcing itself once it answers requests, and draining on
    SIGTERM (shutdown.py).

    uvicorn runs the app's start-up (model load, ledger writer...) before it listens, so a
    banner printed from there would promise an address that is not answering yet.
    """

    def __init__(
        self, config: uvicorn.Config, drain: Drain, on_listening: Callable[[], None]
    ) -> None:
        super().__init__(config, drain)
        self.on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self.on_listening()


def listen(host: str, port: int) -> socket.socket:
    """The relay's socket, listening before anything else starts: a busy port fails at once,
    before a first start makes an admin key. Connections that arrive while the app starts
    wait in the backlog and are answered once it is up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def bind_error(host: str, port: int, error: OSError) -> str:
    """One line saying why the relay cannot listen, and what to do about it."""
    if error.errno == errno.EADDRINUSE:
        return f"llmrelay: port {port} is in use; choose another with --port N (or make run PORT=N)"
    return f"llmrelay: cannot listen on {host}:{port}: {error.strerror or error}"


def configure_logging(settings: Settings) -> None:
    """`time level logger: message` lines (one JSON object a line with `server.log_format:
    json`), with every upstream credential hidden (an upstream's text may reach a log line
    or a traceback)."""
    level = settings.server.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.server.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    # Alembic announces every check of the schema at INFO; only a debug log wants that.
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    logging.getLogger("alembic").setLevel(quiet)
    hide_in_logs(Scrubber(all_credentials(settings)))


def serve(settings: Settings, worker_args: list[str] | None = None) -> int:
    """Serve until told to stop: this process alone, or, with `server.workers` above 1, as
    the supervisor of that many workers (started with `worker_args`, `serve`'s own)."""
    require_otel(settings)  # before listening: a relay that cannot trace does not start
    role = worker_role()
    host, port = settings.server.host, settings.server.port
    if role is not None:
        sock = socket.socket(fileno=role.listen_fd)  # the supervisor's, already listening
    else:
        try:
            sock = listen(host, port)
        except OSError as exc:
            print(bind_error(host, port, exc), file=sys.stderr)
            return 1
    configure_logging(settings)
    admin_key = os.environ.get("LLMRELAY_ADMIN_KEY") or None
    if role is None and worker_count(settings.server.workers) > 1:
        with sock:
            return supervise(settings, sock, worker_args or [], admin_key)
    app = create_app(settings, admin_key)
    server_settings = settings.server
    max_connections = connection_cap(server_settings.max_connections, raise_fd_limit())
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=guarded_protocol(server_settings.header_timeout_seconds, max_connections),
        lifespan="on",
        access_log=False,
        # JSON lines: uvicorn's own loggers then go through the root's JSON handler.
        log_config=None if server_settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        proxy_headers=False,  # the relay reads them itself, from trusted_proxies only
        log_level=settings.server.log_level,
        timeout_keep_alive=30,
        backlog=BACKLOG,
    )

    def announce() -> None:
        if role is None:  # (a worker's supervisor says it once for all)
            print(banner(settings, app.relay.new_admin_key), flush=True)

    server = _ListeningServer(config, app.relay.drain, announce)
    with sock:
        server.run(sockets=[sock])
    return 0 if server.started else 1


def supervise(
    settings: Settings, sock: socket.socket, worker_args: list[str], admin_key: str | None
) -> int:
    """Run the workers (supervisor.py), once the schema and the admin key are in place: done
    here, before any worker starts, so that no two workers race to do it."""
    new_admin_key = prepare_installation(settings, admin_key)
    supervisor = Supervisor(settings, sock, worker_args)
    announce = lambda: print(banner(settings, new_admin_key), flush=True)  # noqa: E731
    return asyncio.run(supervisor.run(announce))
