"""Fixtures for tests that drive the real CLIs; a test module re-exports the ones it uses:

    from tests.clients import fixtures
    agent_model, claude_code, codex = fixtures.agent_model, fixtures.claude_code, fixtures.codex

`claude_code` and `codex` skip the test when the pinned CLI is not installed (and fail it under
LLMRELAY_REQUIRE_SERVICES=1). Their proxy variables point at `agent_model`, which records any
attempt to reach another host (`agent_model.outbound()`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.harness import ClaudeCode, Codex, require_installed
from tests.mocks.agent_upstream import MockAgentModel


@pytest.fixture
def agent_model() -> Iterator[MockAgentModel]:
    """A recording mock model of its own for each test."""
    mock = MockAgentModel()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture
def claude_code(tmp_path: Path, agent_model: MockAgentModel) -> ClaudeCode:
    command = require_installed(ClaudeCode.PACKAGE, "claude")
    return ClaudeCode(command, tmp_path, trap_url=agent_model.url)


@pytest.fixture
def codex(tmp_path: Path, agent_model: MockAgentModel) -> Codex:
    command = require_installed(Codex.PACKAGE, "codex")
    return Codex(command, tmp_path, trap_url=agent_model.url)
