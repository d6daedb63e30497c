"""README's shell blocks run as printed, in order, against a fresh zero-config relay.

The rule (README, "Development"): every block fenced as sh, bash, shell or console runs,
unless the line just above it is `<!-- not run by tests: the reason -->`.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import launch_relay, relay_env, stop_relay, wait_for_text, wait_ready
from tests.e2e.newcomer import fake_checkout

README = Path(__file__).parents[2] / "README.md"
SHELLS = ("sh", "bash", "shell", "console")
NOT_RUN = re.compile(r"<!--\s*not run by tests:\s*(?P<reason>\S.*?)\s*-->")
FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
CURL_CHECKED = 'curl() { command curl --fail-with-body --silent --show-error "$@"; }'
"""README's curl commands, failing (with the answer shown) on anything but a 2xx."""


@dataclass(frozen=True)
class ShellBlock:
    line: int
    commands: str
    not_run: str | None
    """Why the block is not run, as the comment above it says; None if it runs."""


def console_commands(lines: list[str]) -> list[str]:
    """A console block's commands: `$ ` lines and their `\\` continuations, not the output."""
    commands: list[str] = []
    continued = False
    for line in lines:
        if line.startswith("$ "):
            commands.append(line[2:])
        elif continued:
            commands.append(line)
        else:
            continue
        continued = line.endswith("\\")
    return commands


def shell_blocks(markdown: str) -> list[ShellBlock]:
    blocks = []
    lines = markdown.splitlines()
    above = ""
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            above = lines[index].strip() or above
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        body = lines[index + 1 : end]
        language = fence.group("language")
        if language in SHELLS:
            commands = console_commands(body) if language == "console" else body
            reason = NOT_RUN.fullmatch(above)
            blocks.append(
                ShellBlock(index + 1, "\n".join(commands), reason and reason.group("reason"))
            )
        above = ""
        index = end + 1
    return blocks


def test_the_block_rule() -> None:
    markdown = "\n".join(
        [
            "<!-- not run by tests: serves forever -->",
            "```sh",
            "make run",
            "```",
            "Some text.",
            "",
            "```bash",
            "echo one",
            "```",
            "```python",
            "print()",
            "```",
            "```console",
            "$ curl http://x \\",
            "    -d '{}'",
            '{"ok": true}',
            "$ echo two",
            "two",
            "```",
        ]
    )
    blocks = shell_blocks(markdown)
    assert [(b.commands, b.not_run) for b in blocks] == [
        ("make run", "serves forever"),
        ("echo one", None),
        ("curl http://x \\\n    -d '{}'\necho two", None),
    ]


@pytest.mark.local_model
def test_readme_shell_blocks_run_as_printed(tmp_path: Path) -> None:
    blocks = [block for block in shell_blocks(README.read_text()) if block.not_run is None]
    assert blocks, "README has shell blocks to run"
    fake_checkout(tmp_path)
    relay = launch_relay(tmp_path)
    try:
        banner = wait_for_text(relay.log, "Web console")
        admin_key = re.search(r"^  (sk-\S+)$", banner, re.MULTILINE).group(1)
        wait_ready(relay)
        port = relay.url.rsplit(":", 1)[1]
        state = tmp_path / "shell-state"
        state.write_text("")
        for block in blocks:
            script = block.commands.replace(":8080", f":{port}")
            shell = subprocess.run(
                [
                    "bash",
                    "-c",
                    f'set -eo pipefail\nsource "{state}"\n{CURL_CHECKED}\n'
                    f'{script}\nexport -p > "{state}"',
                ],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                env=relay_env(LLMRELAY_ADMIN_KEY=admin_key),
                timeout=300,
            )
            assert shell.returncode == 0, (
                f"README.md line {block.line} failed ({shell.returncode}):\n{script}\n"
                f"--- stdout\n{shell.stdout}\n--- stderr\n{shell.stderr}"
            )
    finally:
        stop_relay(relay)
