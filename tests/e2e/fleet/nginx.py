"""Running Debian's nginx with the shipped deploy/nginx/llmrelay.conf, as the test's user, in a
directory of its own (its pid, logs and temporary files there), on free ports.

The shipped file is used as it is: only its listening port, its replicas' ports and its access
log's path are replaced, and each replacement must find its text exactly once, so a change to
the file that the tests no longer cover fails here rather than passing unseen.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until
from tests.services import services_required

DEPLOY = Path(__file__).parents[3] / "deploy"
SHIPPED = DEPLOY / "nginx" / "llmrelay.conf"
SHIPPED_LISTEN = "listen 80;"
SHIPPED_REPLICAS = ("127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083")
SHIPPED_ACCESS_LOG = "/var/log/nginx/llmrelay.access.log"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
"""Debian builds these temp paths in under /var/lib/nginx; nginx creates them at start, so
each one its binary has a module for is pointed into the test's directory."""


def nginx_binary() -> str:
    """nginx's path (`LLMRELAY_NGINX`, else on PATH, else Debian's /usr/sbin/nginx, which is
    not on a non-root user's PATH), or skip (fail with LLMRELAY_REQUIRE_SERVICES=1)."""
    chosen = os.environ.get("LLMRELAY_NGINX")
    found = chosen or shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(found, os.X_OK):
        message = f"nginx is not installed ({found} is missing)"
        if services_required():
            pytest.fail(message + " and LLMRELAY_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message + "; `make test` installs it (scripts/ensure-nginx.sh)")
    return found


def rendered(replica_ports: list[int], port: int, access_log: Path) -> str:
    """The shipped config with the test's ports and log path."""
    text = SHIPPED.read_text()
    swaps = [(SHIPPED_LISTEN, f"listen 127.0.0.1:{port};"), (SHIPPED_ACCESS_LOG, str(access_log))]
    replicas = zip(SHIPPED_REPLICAS, replica_ports, strict=True)
    swaps += [(old, f"127.0.0.1:{new}") for old, new in replicas]
    for old, new in swaps:
        assert text.count(old) == 1, f"{SHIPPED} no longer has {old!r} exactly once"
        text = text.replace(old, new)
    return text


def _configure_arguments(binary: str) -> str:
    """nginx -V's configure arguments (it prints them on stderr)."""
    return subprocess.run([binary, "-V"], capture_output=True, text=True, check=True).stderr


def main_config(binary: str, directory: Path, site: Path) -> str:
    """nginx.conf for the test: what Debian's own holds that matters here, then the site."""
    configure = _configure_arguments(binary)
    temp = [
        f"    {name}_temp_path {directory / name};"
        for name in TEMP_PATHS
        if f"--without-http_{name}_module" not in configure
    ]
    user = [f"user {getpass.getuser()};"] if os.geteuid() == 0 else []
    return "\n".join(
        [
            *user,
            "worker_processes 1;",
            f"pid {directory / 'nginx.pid'};",
            f"error_log {directory / 'error.log'} warn;",
            "events { worker_connections 4096; }",
            "http {",
            *temp,
            f"    include {site};",
            "}",
            "",
        ]
    )


@dataclass
class RunningNginx:
    url: str
    directory: Path
    process: subprocess.Popen

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish open requests
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_nginx(directory: Path, replica_ports: list[int]) -> RunningNginx:
    """nginx in front of the replicas, answering /readyz through them."""
    binary = nginx_binary()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = directory / "llmrelay.conf"
    site.write_text(rendered(replica_ports, port, directory / "access.log"))
    config = directory / "nginx.conf"
    config.write_text(main_config(binary, directory, site))
    args = [binary, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")]
    checked = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, f"nginx -t refused the config:\n{checked.stderr}"
    process = subprocess.Popen([*args, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    running = RunningNginx(f"http://127.0.0.1:{port}", directory, process)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited early:\n{running.error_log()}")
        try:
            return httpx.get(running.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout=20)
    return running
