"""Every code sample on every docs page runs as printed, so the docs cannot drift from the
product: shell and Python blocks against a fresh zero-config relay (one per page, as a reader
following that page would have), YAML blocks through the configuration's own validation.

A block that cannot run here (it needs a vendor's key, root, another config, or never ends)
says why on the line just above it: `<!-- not run by tests: the reason -->` (`samples.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

import llmrelay
from llmrelay.config import SECTIONS, ModelConfig, ProviderConfig
from tests.conftest import (
    ADMIN_KEY,
    admin_made_key,
    launch_relay,
    relay_env,
    stop_relay,
    wait_ready,
)
from tests.e2e.newcomer import fake_checkout
from tests.e2e.samples import SampleShell, code_blocks

DOCS = Path(__file__).parents[2] / "docs"
SOURCE = str(Path(llmrelay.__file__).parents[1])
PAGES = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))
RUNNING = [page for page in PAGES if any(b.runs for b in code_blocks((DOCS / page).read_text()))]


@pytest.mark.local_model
@pytest.mark.parametrize("page", RUNNING)
def test_the_page_samples_run_as_printed(page: str, tmp_path: Path) -> None:
    """The page's shell and Python blocks, in order, in one shell, with the admin key in
    `LLMRELAY_ADMIN_KEY` and an API key in `LLMRELAY_KEY` (as the quickstart leaves them)."""
    fake_checkout(tmp_path)
    relay = launch_relay(tmp_path, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    try:
        wait_ready(relay)
        env = relay_env(LLMRELAY_ADMIN_KEY=ADMIN_KEY, LLMRELAY_KEY=admin_made_key(relay))
        env["PYTHONPATH"] = SOURCE  # `.venv/bin/llmrelay` runs this checkout, from any directory
        shell = SampleShell(tmp_path, int(relay.url.rsplit(":", 1)[1]), env)
        for block in code_blocks((DOCS / page).read_text()):
            if block.runs:
                shell.check(block, f"docs/{page}")
    finally:
        stop_relay(relay)


def _check_settings(document: dict[str, Any]) -> None:
    """Each section of a (partial) configuration, validated as the relay validates it; what
    a fragment refers to elsewhere (a provider it names) is not looked for."""
    for section, value in document.items():
        if section == "providers":
            for provider in value.values():
                msgspec.convert(provider, ProviderConfig, strict=False)
        elif section == "models":
            for model in value.values():
                if "gguf" in model:
                    model = {**model, "provider": "from-gguf"}
                    del model["gguf"]
                msgspec.convert(model, ModelConfig, strict=False)
        else:
            msgspec.convert(value or {}, SECTIONS[section], strict=False)


YAML_BLOCKS = [
    pytest.param(page, block, id=f"{page}:{block.line}")
    for page in PAGES
    for block in code_blocks((DOCS / page).read_text())
    if block.language == "yaml" and block.not_run is None
]


@pytest.mark.parametrize(("page", "block"), YAML_BLOCKS)
def test_the_page_configuration_samples_are_valid(page: str, block: Any) -> None:
    document = yaml.safe_load(block.code)
    assert isinstance(document, dict), f"docs/{page} line {block.line}: not a mapping"
    try:
        _check_settings(document)
    except (msgspec.ValidationError, KeyError) as exc:
        raise AssertionError(f"docs/{page} line {block.line}: {exc}") from None


def test_every_page_has_something_checked_or_says_why() -> None:
    """No sample is silently skipped: a block in a runnable language either runs or says
    why not, and the reasons are sentences, not placeholders."""
    for page in PAGES:
        for block in code_blocks((DOCS / page).read_text()):
            if block.not_run is not None:
                assert len(block.not_run) > 10, f"docs/{page} line {block.line}: say why"


def test_the_rule_sees_python_blocks_and_reasons() -> None:
    markdown = "\n".join(
        [
            "```python",
            "print(1)",
            "```",
            "<!-- not run by tests: needs a vendor key -->",
            "```python",
            "print(2)",
            "```",
            "```json",
            "{}",
            "```",
        ]
    )
    assert [(b.language, b.runs, b.not_run) for b in code_blocks(markdown)] == [
        ("python", True, None),
        ("python", False, "needs a vendor key"),
        ("json", False, None),
    ]
