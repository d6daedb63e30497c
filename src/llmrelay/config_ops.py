"""Settings for running and operating the relay: the server process and its logs, the
Prometheus metrics, OpenTelemetry traces and the public model catalogue."""

from __future__ import annotations

from typing import Literal

import msgspec


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "./data"
    database_url: str | None = None
    max_body_bytes: int = 20 * 1024 * 1024
    max_inflight_body_bytes: int = 256 * 1024 * 1024
    """All request bodies held at once; past it, 503 with Retry-After."""
    parse_in_thread_bytes: int = 1024 * 1024
    """Bodies larger than this are parsed and checked off the event loop."""
    max_connections: int = 10000
    """Open client connections; past it, new ones get 503 and are closed. Lowered at start
    to half the process's file descriptor limit, so upstream sockets always find room."""
    header_timeout_seconds: float = 10.0
    """A connection must complete a request's headers this soon after it opens (or after
    the request's first byte); slower ones are closed."""
    keepalive_ping_seconds: float = 10.0
    redis_url: str | None = None
    """Shared rate limits, budgets and key changes across replicas; in-process without it."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    trusted_proxies: list[str] = []
    """Networks (`10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`) of the load balancers or proxies
    in front of the relay: from them, `X-Forwarded-For` and `Forwarded` name the client
    (`wire/forwarded.py`). Empty: the socket peer is the client, and no header is read."""
    workers: int | Literal["auto"] = 1
    """Worker processes serving the port (`auto`: one per core): see docs/deploy.md."""
    log_format: Literal["text", "json"] = "text"
    """Request log lines: a readable line for terminals, or one JSON object per line."""
    log_bodies: bool = False
    """Log prompts and completions (truncated) with each request's line; off by default."""
    drain_seconds: float = 30.0
    """On SIGTERM, how long requests in flight may run on before their streams are ended
    with an error frame (docs/deploy.md, "Reload and drain")."""


class MetricsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Prometheus `GET /metrics`: on the main port behind the admin key unless `public`, and
    also on `port` (no key) when set."""

    public: bool = False
    port: int | None = None
    host: str = "127.0.0.1"


class TracingConfig(msgspec.Struct, forbid_unknown_fields=True):
    """OpenTelemetry spans exported over OTLP/HTTP; off unless `otlp_endpoint` is set."""

    otlp_endpoint: str | None = None
    """The collector's traces URL, e.g. `http://127.0.0.1:4318/v1/traces`."""
    service_name: str = "llmrelay"


class CatalogueConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The model catalogue page (`/models`): public unless `public: false`."""

    public: bool = True
