"""Running the real coding CLIs, Claude Code and Codex, against a local server, offline.

Both are pinned in tests/clients/package.json (+ package-lock.json) and installed into
tests/clients/node_modules by scripts/ensure-clis.sh (`make test` runs it). Each run gets a
throwaway home and working directory, an environment built from scratch (nothing of the
caller's keys, proxies or settings leaks in) and a timeout; stdout, stderr and the exit code
are kept.

What keeps each CLI off the internet (every proxy variable points at a local server that
records any attempt to reach another host; see tests/clients/README.md):
- Claude Code (https://code.claude.com/docs/en/llm-gateway, /en/env-vars): `ANTHROPIC_BASE_URL`
  and `ANTHROPIC_AUTH_TOKEN` (sent as `Authorization: Bearer`), and
  `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` (without it, it connects to api.anthropic.com).
  In `-p` mode there is no login, onboarding or trust prompt.
- Codex (https://developers.openai.com/codex/config-reference): a `config.toml` in `CODEX_HOME`
  choosing a provider with `base_url`, `env_key` and `wire_api = "responses"` (so no login),
  with `[analytics] enabled = false` (else it connects to ab.chatgpt.com) and
  `[features] plugins = false` (else it clones github.com/openai/plugins.git and asks
  chatgpt.com and api.github.com); `check_for_update_on_startup = false` is a guard.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.services import services_required

CLIENTS = Path(__file__).parent
NODE_MODULES = CLIENTS / "node_modules"
INSTALL_HINT = "bash scripts/ensure-clis.sh installs it (make test runs it)"
TIMEOUT = 60.0


@dataclass
class CliRun:
    """One finished run of a CLI, and the home and working directory it had."""

    argv: list[str]
    home: Path
    cwd: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def explain(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def pinned_version(package: str) -> str:
    manifest = json.loads((CLIENTS / "package.json").read_text())
    return manifest["dependencies"][package]


def installed_problem(package: str, command: str) -> str | None:
    """Why the pinned `package` cannot run here, or None when it can."""
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.exists():
        return f"{package} is not installed in {NODE_MODULES}"
    installed = json.loads(manifest.read_text())["version"]
    if installed != pinned_version(package):
        return f"{package} {installed} is installed but {pinned_version(package)} is pinned"
    if not (NODE_MODULES / ".bin" / command).exists():
        return f"{package} has no {command} command in {NODE_MODULES / '.bin'}"
    return None


def require_installed(package: str, command: str) -> Path:
    """The CLI's command; skips the test (fails it under LLMRELAY_REQUIRE_SERVICES=1) without."""
    import pytest

    problem = installed_problem(package, command)
    if problem is None:
        return NODE_MODULES / ".bin" / command
    message = f"{problem}; {INSTALL_HINT}"
    if services_required():
        pytest.fail(message + " and LLMRELAY_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


LOOPBACK = "127.0.0.1,localhost,::1"


def base_environment(home: Path, trap_url: str) -> dict[str, str]:
    """A clean environment: a PATH, a throwaway HOME, a UTF-8 locale, and every proxy variable
    set to `trap_url`, a local server that records what reaches it: a CLI that tries to reach
    any host but this machine's shows up there as `CONNECT host:443` instead of going out."""
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb"}
    for name in ("https_proxy", "http_proxy", "all_proxy"):
        env[name] = env[name.upper()] = trap_url
    env["no_proxy"] = env["NO_PROXY"] = LOOPBACK
    return env


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> CliRun:
    """Run `argv` in its own process group; on timeout the whole group is killed."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        stdout, stderr = process.communicate()
        run = CliRun(argv, Path(env["HOME"]), cwd, -9, stdout, stderr, time.monotonic() - started)
        raise AssertionError(f"timed out after {timeout}s\n{run.explain()}") from None
    finally:
        _kill_group(process.pid)
    seconds = time.monotonic() - started
    return CliRun(argv, Path(env["HOME"]), cwd, process.returncode, stdout, stderr, seconds)


def _kill_group(group: int) -> None:
    """The run's process group dies, with any command the agent left running."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


@dataclass
class ClaudeCode:
    """`claude -p PROMPT --model M --allowedTools Bash` in a throwaway HOME."""

    command: Path
    root: Path
    trap_url: str

    PACKAGE = "@anthropic-ai/claude-code"

    def run(
        self, prompt: str, *, base_url: str, key: str, model: str, timeout: float = TIMEOUT
    ) -> CliRun:
        home, work = _fresh_dirs(self.root)
        env = base_environment(home, self.trap_url)
        env |= {"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_AUTH_TOKEN": key}
        env |= {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        argv = [str(self.command), "-p", prompt, "--model", model, "--allowedTools", "Bash"]
        return run_cli(argv, env, work, timeout)


CODEX_KEY_VARIABLE = "LLMRELAY_API_KEY"


def codex_config(base_url: str, model: str) -> str:
    """Codex's config.toml: one provider at `base_url` (ending in /v1), and nothing online."""
    return f"""\
model = {json.dumps(model)}
model_provider = "llmrelay"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false

[model_providers.llmrelay]
name = "llmrelay"
base_url = {json.dumps(base_url)}
env_key = "{CODEX_KEY_VARIABLE}"
wire_api = "responses"
"""


@dataclass
class Codex:
    """`codex exec --skip-git-repo-check -m M --dangerously-bypass-approvals-and-sandbox PROMPT`
    with a throwaway CODEX_HOME whose config.toml points at `base_url`."""

    command: Path
    root: Path
    trap_url: str

    PACKAGE = "@openai/codex"

    def run(
        self, prompt: str, *, base_url: str, key: str, model: str, timeout: float = TIMEOUT
    ) -> CliRun:
        home, work = _fresh_dirs(self.root)
        codex_home = home / ".codex"
        codex_home.mkdir()
        (codex_home / "config.toml").write_text(codex_config(base_url, model))
        env = base_environment(home, self.trap_url) | {
            "CODEX_HOME": str(codex_home),
            CODEX_KEY_VARIABLE: key,
        }
        argv = [str(self.command), "exec", "--skip-git-repo-check", "-m", model]
        argv += ["--dangerously-bypass-approvals-and-sandbox", prompt]
        return run_cli(argv, env, work, timeout)


def _fresh_dirs(root: Path) -> tuple[Path, Path]:
    """A new home and working directory under `root` for one run."""
    number = len(list(root.glob("run-*")))
    run = root / f"run-{number}"
    home, work = run / "home", run / "work"
    home.mkdir(parents=True)
    work.mkdir()
    return home, work
