"""What a newcomer's checkout looks like to the commands README and the banner print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def fake_checkout(directory: Path) -> Path:
    """`directory` with a `.venv/bin/llmrelay` (and `python`) that run this test's llmrelay
    (and interpreter), so `.venv/bin/llmrelay ...` works there as printed; returns the venv."""
    venv = directory / ".venv"
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    command = bin_dir / "llmrelay"
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m llmrelay "$@"\n')
    command.chmod(0o755)
    # A script, not a link: a linked interpreter outside its venv would not find the
    # venv's packages (the docs' Python samples import openai and anthropic).
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return venv


def unreachable_upstream_config() -> dict[str, Any]:
    """A relay that starts in a blink: one model on an upstream nobody calls."""
    return {
        "providers": {"up": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"remote-model": {"provider": "up"}},
    }
