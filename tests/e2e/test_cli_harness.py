"""The real Claude Code and Codex CLIs, offline, against the recording mock model (no relay).

These prove the harness the relay's client tests build on: each CLI, pinned and installed by
scripts/ensure-clis.sh, answers a plain question, and completes the agent loop: the mock model
asks for the CLI's own shell tool (`Bash` for Claude Code, `exec_command` for Codex), the CLI
runs the command, and the model's next answer quotes what it printed. The command computes its
marker, so the marker reaches the answer only if the CLI really ran it. No CLI may try to reach
another host: every proxy variable points at the mock, which records such attempts.

What each CLI sent is saved under tests/output/clients/ (and, with LLMRELAY_UPDATE_CAPTURES=1,
as the committed reference in tests/clients/captured/). Select these tests with `-m clis`.
"""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import pytest

from tests.clients import fixtures
from tests.clients.captures import request_summary, request_view, save_capture
from tests.clients.harness import ClaudeCode, CliRun, Codex, pinned_version
from tests.mocks.agent_upstream import MockAgentModel, plain_answer, tool_answer

pytestmark = pytest.mark.clis

agent_model, claude_code, codex = fixtures.agent_model, fixtures.claude_code, fixtures.codex

KEY = "sk-llmrelay-cli-harness-0123456789abcdef"
QUESTION = "What is the capital of France?"
COMMAND = "echo relay-marker-$((1200+34))"
MARKER = "relay-marker-1234"
LOOP_PROMPT = f"Please run `{COMMAND}` and tell me what it printed."
CLAUDE_MODEL = "claude-relay-test"
CODEX_MODEL = "gpt-relay-test"


def succeeded(run: CliRun, mock: MockAgentModel) -> None:
    assert run.returncode == 0, run.explain()
    assert mock.outbound() == [], f"tried to leave the machine: {mock.outbound()}"


def keep_capture(
    name: str, package: str, run: CliRun, mock: MockAgentModel, tail: dict, root: Path
) -> None:
    """Save the session, the first request in full, and `tail`, for the door implementers."""
    capture = {"client": f"{package} {pinned_version(package)}", "argv": run.argv[1:]}
    capture["session"] = [request_summary(r) for r in mock.received]
    capture["first_request"] = request_view(mock.received[0])
    server = mock.url.removeprefix("http://")
    save_capture(name, capture | tail, secrets=[KEY], tmp=str(root), server=server)


def ask_claude(claude: ClaudeCode, mock: MockAgentModel, prompt: str) -> CliRun:
    run = claude.run(prompt, base_url=mock.url, key=KEY, model=CLAUDE_MODEL)
    succeeded(run, mock)
    return run


def ask_codex(cli: Codex, mock: MockAgentModel, prompt: str) -> CliRun:
    run = cli.run(prompt, base_url=mock.url + "/v1", key=KEY, model=CODEX_MODEL)
    succeeded(run, mock)
    return run


def test_claude_code_answers_a_plain_question(claude_code: ClaudeCode, agent_model) -> None:
    run = ask_claude(claude_code, agent_model, QUESTION)
    assert run.stdout.strip() == plain_answer(QUESTION)
    [request] = agent_model.received
    assert (request.method, request.path, request.query) == ("POST", "/v1/messages", "beta=true")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["model"] == CLAUDE_MODEL
    assert request.body["stream"] is True


def test_claude_code_runs_bash_and_quotes_what_it_printed(
    claude_code: ClaudeCode, agent_model, tmp_path
) -> None:
    assert MARKER not in LOOP_PROMPT
    run = ask_claude(claude_code, agent_model, LOOP_PROMPT)
    assert run.stdout.strip() == tool_answer(MARKER)
    first, second = agent_model.requests_to("/v1/messages")
    assert "Bash" in [tool["name"] for tool in first.body["tools"]]
    [use] = second.body["messages"][-2]["content"]
    assert (use["type"], use["name"], use["input"]["command"]) == ("tool_use", "Bash", COMMAND)
    [result] = second.body["messages"][-1]["content"]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", use["id"])
    assert result["content"] == MARKER
    tail = {"tool_result_request_last_messages": second.body["messages"][-2:]}
    keep_capture("claude-code", ClaudeCode.PACKAGE, run, agent_model, tail, tmp_path)


def test_codex_answers_a_plain_question(codex: Codex, agent_model) -> None:
    run = ask_codex(codex, agent_model, QUESTION)
    assert run.stdout.strip() == plain_answer(QUESTION)
    [request] = agent_model.received
    assert (request.method, request.path) == ("POST", "/v1/responses")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == CODEX_MODEL
    assert request.body["stream"] is True


def test_codex_runs_exec_command_and_quotes_what_it_printed(
    codex: Codex, agent_model, tmp_path
) -> None:
    assert MARKER not in LOOP_PROMPT
    run = ask_codex(codex, agent_model, LOOP_PROMPT)
    assert tool_answer("") in run.stdout
    assert run.stdout.strip().endswith(MARKER)
    first, second = agent_model.requests_to("/v1/responses")
    assert "exec_command" in [tool.get("name") for tool in first.body["tools"]]
    call, output = second.body["input"][-2:]
    assert (call["type"], call["name"]) == ("function_call", "exec_command")
    assert (output["type"], output["call_id"]) == ("function_call_output", call["call_id"])
    assert output["output"].rstrip().endswith(f"Output:\n{MARKER}")
    tail = {"config.toml": (run.home / ".codex/config.toml").read_text()}
    tail |= {"tool_result_request_last_items": second.body["input"][-2:]}
    keep_capture("codex", Codex.PACKAGE, run, agent_model, tail, tmp_path)


def test_mock_model_speaks_the_formats_the_official_sdks_read(agent_model) -> None:
    """The mock's answers parse in the vendors' own SDKs, whole and streamed alike."""
    claude = anthropic.Anthropic(base_url=agent_model.url, api_key=KEY)
    bash = {"name": "Bash", "input_schema": {"type": "object"}}
    request = {"model": CLAUDE_MODEL, "max_tokens": 100, "tools": [bash]}
    request["messages"] = [{"role": "user", "content": LOOP_PROMPT}]
    whole = claude.messages.create(**request)
    with claude.messages.stream(**request) as stream:
        assert stream.get_final_message().model_dump() == whole.model_dump()
    assert [(b.type, b.name, b.input["command"]) for b in whole.content] == [
        ("tool_use", "Bash", COMMAND)
    ]
    del request["max_tokens"]
    assert claude.messages.count_tokens(**request).input_tokens > 0
    assert [m.id for m in claude.models.list()] == [CLAUDE_MODEL]

    gpt = openai.OpenAI(base_url=agent_model.url + "/v1", api_key=KEY)
    with gpt.responses.stream(model=CODEX_MODEL, input=QUESTION) as stream:
        streamed = stream.get_final_response()
    assert streamed.output_text == plain_answer(QUESTION)
    assert streamed.usage.total_tokens > 0
    assert (
        gpt.responses.create(model=CODEX_MODEL, input=QUESTION).output_text == streamed.output_text
    )
