"""Code samples in Markdown (README, the docs' pages), and a shell that runs them as printed.

The rule (README, "Development"): every block fenced as sh, bash, shell, console or python
runs, in order, unless the line just above it is `<!-- not run by tests: the reason -->`.
A page's blocks share one shell, as a reader's terminal would: what one block exports, the
next sees. Python blocks run with the checkout's `.venv/bin/python`, in that same shell.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SHELLS = ("sh", "bash", "shell", "console")
RUNNABLE = (*SHELLS, "python")
NOT_RUN = re.compile(r"<!--\s*not run by tests:\s*(?P<reason>\S.*?)\s*-->")
FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
CURL_CHECKED = 'curl() { command curl --fail-with-body --silent --show-error "$@"; }'
"""The samples' curl commands, failing (with the answer shown) on anything but a 2xx."""
END_OF_PYTHON = "LLMRELAY_SAMPLE_END"


@dataclass(frozen=True)
class CodeBlock:
    line: int
    language: str
    code: str
    """The block's text; for a console block, its commands without their output."""
    not_run: str | None
    """Why the block is not run, as the comment above it says; None if it runs."""

    @property
    def runs(self) -> bool:
        return self.language in RUNNABLE and self.not_run is None


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


def code_blocks(markdown: str) -> list[CodeBlock]:
    """Every fenced block, with its language and the reason it is not run, if any."""
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
        commands = console_commands(body) if language == "console" else body
        reason = NOT_RUN.fullmatch(above)
        blocks.append(
            CodeBlock(index + 1, language, "\n".join(commands), reason and reason.group("reason"))
        )
        above = ""
        index = end + 1
    return blocks


def shell_blocks(markdown: str) -> list[CodeBlock]:
    return [block for block in code_blocks(markdown) if block.language in SHELLS]


class SampleShell:
    """One reader's terminal in `directory`: blocks run in order, sharing exported variables,
    against a relay on `port` (written in place of the samples' 8080)."""

    def __init__(self, directory: Path, port: int, env: dict[str, str]) -> None:
        self.directory = directory
        self.port = port
        self.env = env
        self.state = directory / "shell-state"
        self.state.write_text("")

    def script(self, block: CodeBlock) -> str:
        code = block.code.replace(":8080", f":{self.port}")
        if block.language == "python":
            return f".venv/bin/python - <<'{END_OF_PYTHON}'\n{code}\n{END_OF_PYTHON}"
        return code

    def run(self, block: CodeBlock) -> subprocess.CompletedProcess[str]:
        script = self.script(block)
        return subprocess.run(
            [
                "bash",
                "-c",
                f'set -eo pipefail\nsource "{self.state}"\n{CURL_CHECKED}\n'
                f'{script}\nexport -p > "{self.state}"',
            ],
            cwd=self.directory,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
        )

    def check(self, block: CodeBlock, where: str) -> None:
        """Run `block`; fail naming `where` it is, with its output, unless it exits 0."""
        done = self.run(block)
        assert done.returncode == 0, (
            f"{where} line {block.line} failed ({done.returncode}):\n{self.script(block)}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
