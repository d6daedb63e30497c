"""A fleet as deploy/ ships it: three `llmrelay serve` replicas on the shipped
deploy/llmrelay.yaml, sharing one fresh PostgreSQL database and the test Redis, behind nginx on
the shipped deploy/nginx/llmrelay.conf. The provider is the mock OpenAI upstream, reached
through the file's own `OPENAI_BASE_URL` and `OPENAI_API_KEY`."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from llmrelay.store.database import normalise_url
from tests.conftest import (
    ADMIN,
    ADMIN_KEY,
    RunningRelay,
    free_port,
    launch_relay,
    stop_relay,
    wait_ready,
    wait_until,
)
from tests.e2e.fleet.nginx import DEPLOY, RunningNginx, nginx_binary, start_nginx
from tests.mocks.openai_upstream import UPSTREAM_KEY, MockOpenAI
from tests.services import REDIS_URL, fresh_postgres_database, redis_or_skip

REPLICAS = 3
ACCESS_LINE = re.compile(r"upstream=(?P<upstreams>[^\s,]+(?:, [^\s,]+)*) .*request_id=(?P<rid>\S+)")
"""A line of nginx's access log (deploy/nginx/llmrelay.conf's `log_format llmrelay`): the
replicas tried, the last one answering ("127.0.0.1:8083, 127.0.0.1:8081")."""
RELOADED = "configuration reloaded"
"""A relay's log line once a reload is in force (docs/deploy.md, "Reload and drain")."""


@dataclass
class Fleet:
    mock: MockOpenAI
    directory: Path
    database_url: str
    env: dict[str, str]
    config: dict[str, Any] = field(default_factory=lambda: shipped_replica_config())
    ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(REPLICAS)])
    replicas: list[RunningRelay] = field(default_factory=list)
    nginx: RunningNginx | None = None

    @property
    def url(self) -> str:
        """Where clients go: nginx."""
        assert self.nginx is not None
        return self.nginx.url

    def start(self) -> None:
        """All replicas at once (they take turns migrating the new database), then nginx."""
        self.replicas = [self._launch(index) for index in range(REPLICAS)]
        for replica in self.replicas:
            wait_ready(replica)
        self.nginx = start_nginx(self.directory / "nginx", self.ports)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for replica in self.replicas:
            stop_relay(replica)

    def address(self, index: int) -> str:
        """Replica `index` as nginx's access log names it."""
        return f"127.0.0.1:{self.ports[index]}"

    def restart(self, index: int) -> RunningRelay:
        """Start replica `index` again, on its port and data directory, after it ended; the
        replica that ended."""
        old = self.replicas[index]
        old.process.wait(10)
        self.replicas[index] = wait_ready(self._launch(index, f"relay-{old.process.pid}.log"))
        return old

    def _launch(self, index: int, log_name: str = "relay.log") -> RunningRelay:
        directory = self.directory / f"replica-{index + 1}"
        return launch_relay(directory, self.config, self.ports[index], log_name, **self.env)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Write `config` as every replica's file and SIGHUP each (docs/deploy.md: each
        process reloads on its own); return once every one has it in force."""
        self.config = config
        said = [replica.log().count(RELOADED) for replica in self.replicas]
        for replica in self.replicas:
            replica.config_path.write_text(yaml.safe_dump(config))
        for replica in self.replicas:
            replica.process.send_signal(signal.SIGHUP)
        for replica, before in zip(self.replicas, said, strict=True):
            wait_until(lambda r=replica, n=before: r.log().count(RELOADED) > n, timeout=30)

    def new_key(self, **fields: Any) -> dict[str, Any]:
        """A key made through nginx with the admin API."""
        body = {"name": f"fleet-{time.monotonic_ns()}", **fields}
        response = httpx.post(self.url + "/admin/keys", json=body, headers=ADMIN, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def served_by(self, request_ids: list[str | None]) -> list[str]:
        """The replica (address) that answered each request, from nginx's access log (a line
        is written as its request ends: waited for)."""
        assert self.nginx is not None
        log = self.nginx.access_log

        def replicas() -> list[str] | None:
            answered = {}
            for line in log.read_text().splitlines():
                match = ACCESS_LINE.search(line)
                if match:
                    answered[match["rid"]] = match["upstreams"].split(", ")[-1]
            found = [answered.get(str(request_id), "") for request_id in request_ids]
            return found if all(found) else None

        return wait_until(replicas, timeout=10)

    def ledger(self, key_id: str, request_ids: list[str | None]) -> list[dict[str, Any]]:
        """The key's ledger rows, once every one of `request_ids` is among them."""
        engine = sa.create_engine(normalise_url(self.database_url))
        query = sa.text("SELECT * FROM usage_records WHERE key_id = :k")
        awaited = set(request_ids)
        try:

            def complete() -> list[dict[str, Any]] | None:
                with engine.connect() as connection:
                    found = [dict(r._mapping) for r in connection.execute(query, {"k": key_id})]
                return found if awaited <= {row["request_id"] for row in found} else None

            return wait_until(complete, timeout=60, interval=0.2)
        finally:
            engine.dispose()


PACED_MODEL = "paced"
"""Added to the shipped file's models, on its provider, priced: a stream of the prompt's words
echoed one every 0.05 s (the mock's `mock-paced:0.05`), for streams that outlast a signal."""
PACED_PRICE = {"input": 1.0, "output": 2.0}

PAUSING_MODEL = "pauses"
"""Added to the shipped file's models, on its provider: a stream that pauses a second after
its first word (the mock's `mock-pause-midstream`), so a killed replica has streams open."""


def shipped_replica_config() -> dict[str, Any]:
    """deploy/llmrelay.yaml as shipped, with one more model for the tests."""
    config = yaml.safe_load((DEPLOY / "llmrelay.yaml").read_text())
    provider = next(iter(config["providers"]))
    config["models"][PAUSING_MODEL] = {
        "provider": provider,
        "upstream_model": "mock-pause-midstream",
    }
    config["models"][PACED_MODEL] = {
        "provider": provider,
        "upstream_model": "mock-paced:0.05",
        "price": PACED_PRICE,
    }
    return config


async def _require_redis() -> None:
    client = await redis_or_skip()
    await client.aclose()


@pytest.fixture(scope="module")
def fleet(mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    nginx_binary()  # skip (or fail in CI) before starting anything
    asyncio.run(_require_redis())
    directory = tmp_path_factory.mktemp("fleet")
    with fresh_postgres_database() as database_url:
        env = {
            "LLMRELAY_ADMIN_KEY": ADMIN_KEY,
            "LLMRELAY_DATABASE_URL": database_url,
            "LLMRELAY_REDIS_URL": REDIS_URL,
            "OPENAI_BASE_URL": mock_openai.base_url,
            "OPENAI_API_KEY": UPSTREAM_KEY,
        }
        fleet = Fleet(mock_openai, directory, database_url, env)
        try:
            fleet.start()
            yield fleet
        finally:
            fleet.stop()
