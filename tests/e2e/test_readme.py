"""README's shell blocks run as printed, in order, against a fresh zero-config relay.

The rule (README, "Development", and `samples.py`): every block fenced as sh, bash, shell or
console runs, unless the line just above it is `<!-- not run by tests: the reason -->`.
README's Python blocks are not run: they show the SDKs with a placeholder key (the docs'
pages, whose Python runs too, read it from the environment).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import launch_relay, relay_env, stop_relay, wait_for_text, wait_ready
from tests.e2e.newcomer import fake_checkout
from tests.e2e.samples import SampleShell, shell_blocks

README = Path(__file__).parents[2] / "README.md"


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
    assert [(b.code, b.not_run) for b in blocks] == [
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
        port = int(relay.url.rsplit(":", 1)[1])
        shell = SampleShell(tmp_path, port, relay_env(LLMRELAY_ADMIN_KEY=admin_key))
        for block in blocks:
            shell.check(block, "README.md")
    finally:
        stop_relay(relay)
