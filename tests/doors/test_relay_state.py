"""The relay's own tokens (relay_state.py) and where their state goes back in a Responses
request's Chat messages; namespace tools' Chat names."""

from __future__ import annotations

from llmrelay.doors import relay_state
from llmrelay.doors.relay_state import Gathered, Seal
from llmrelay.doors.responses_request import MAX_FUNCTION_NAME, flat_name, messages_from

SEAL = Seal(b"s" * 32)
STATE = {"reasoning_content": "thought", "signatures": {"call_1": "c2ln"}}


def test_a_sealed_token_opens_only_under_its_own_key() -> None:
    token = SEAL.seal(STATE)
    assert relay_state.is_minted(token)
    assert SEAL.open(token) == STATE
    assert Seal(b"t" * 32).open(token) is None
    assert SEAL.open(relay_state.encode(STATE)) is None  # unsealed
    assert SEAL.open(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert SEAL.open("gAAAAB-openai") is None
    assert relay_state.decode(token) is None  # a sealed token is no unsealed one


def test_reasoning_text_is_carried_for_a_turn_that_called_tools() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    thinking = {"role": "assistant", "content": "hi", "reasoning_content": "thought"}
    assert Gathered.of_message(thinking).payload() == {}
    called = Gathered.of_message({**thinking, "tool_calls": [call]})
    assert called.payload() == {"reasoning_content": "thought"}


def call_item(call_id: str) -> dict:
    return {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"}


def state_item(payload: dict) -> dict:
    return {"type": "reasoning", "summary": [], "encrypted_content": SEAL.seal(payload)}


def test_state_goes_back_on_its_turns_assistant_message() -> None:
    """After the message and calls (the relay's order) or before them; never on another
    turn's."""
    output = {"type": "function_call_output", "call_id": "c1", "output": "x"}
    items = [
        {"role": "user", "content": "q"},
        call_item("c1"),
        state_item({"reasoning_content": "one", "signatures": {"c1": "sig1"}}),
        output,
        state_item({"reasoning_content": "two", "signatures": {"c2": "sig2"}}),
        call_item("c2"),
        {**output, "call_id": "c2"},
        state_item({"reasoning_content": "lost"}),
        {"role": "user", "content": "q2"},
    ]
    messages = messages_from(items, seal=SEAL)
    first, second = (m for m in messages if m["role"] == "assistant")
    assert (first["reasoning_content"], second["reasoning_content"]) == ("one", "two")
    google = first["tool_calls"][0]["extra_content"]["google"]
    assert google == {"thought_signature": "sig1"}
    assert second["tool_calls"][0]["extra_content"]["google"]["thought_signature"] == "sig2"
    assert "lost" not in str(messages)


def test_namespace_tool_names_fit_chat() -> None:
    assert flat_name("crm", "find") == "crm__find"
    assert flat_name("mcp__github__", "get_me") == "mcp__github__get_me"
    long_a, long_b = flat_name("n" * 40, "a" * 40), flat_name("n" * 40, "a" * 39 + "b")
    assert len(long_a) == len(long_b) == MAX_FUNCTION_NAME
    assert long_a != long_b
