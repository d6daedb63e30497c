"""Running the relay under uvicorn (uvloop + httptools), and the start-up banner."""

from __future__ import annotations

import json
import logging
import os
import shlex

import uvicorn

from llmrelay.app import create_app
from llmrelay.config import Settings
from llmrelay.providers.credentials import Scrubber, all_credentials, hide_in_logs

SEED_QUESTION = "你好,请介绍一下你自己"


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
            "Create an API key for a client (it is printed on the last line):",
            "  export LLMRELAY_KEY=$(.venv/bin/llmrelay keys create --name my-app | tail -n 1)",
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


def configure_logging(settings: Settings) -> None:
    """`time level logger: message` lines, with every upstream credential hidden (an
    upstream's text may reach a log line or a traceback)."""
    level = settings.server.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hide_in_logs(Scrubber(all_credentials(settings)))


def serve(settings: Settings) -> int:
    configure_logging(settings)
    app = create_app(settings, os.environ.get("LLMRELAY_ADMIN_KEY") or None)
    app.on_ready = lambda: print(banner(settings, app.relay.new_admin_key), flush=True)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=False,  # no X-Forwarded-* rewriting on every request: nothing uses it
        log_level=settings.server.log_level,
        timeout_keep_alive=30,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
