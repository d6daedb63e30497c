"""What the Responses door leaves for a pass-through to an upstream that speaks the Responses
API itself: the client's body, with a conversation the relay stored spelled out."""

from __future__ import annotations

from llmrelay.doors.responses import ResponsesDoor


def test_the_clients_body_is_kept_for_a_pass_through() -> None:
    body = {"model": "m", "input": "hi", "store": False, "include": ["x"]}
    inbound = ResponsesDoor().parse(body)
    assert inbound.body is body
    assert inbound.state.native_body(body) is body


def test_a_stored_conversation_is_spelled_out_for_a_pass_through() -> None:
    body = {"model": "m", "input": "again", "previous_response_id": "resp_1", "store": True}
    inbound = ResponsesDoor().parse(body)
    earlier = [
        {"type": "message", "role": "user", "content": "first"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok"}],
        },
    ]
    inbound.state.history = earlier
    native = inbound.state.native_body(body)
    assert "previous_response_id" not in native
    assert native["input"] == [*earlier, {"type": "message", "role": "user", "content": "again"}]
    assert {k: native[k] for k in ("model", "store")} == {"model": "m", "store": True}
