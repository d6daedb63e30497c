"""The OpenAI Responses door: `POST /v1/responses`, whole or streamed, for Codex and the
openai SDK's `responses.create` / `responses.stream`.

The request is translated into the relay's (OpenAI Chat's) by `responses_request`, so it
reaches every upstream kind; the answer comes back as a `response` object
(`responses_output`) or its event stream (`responses_stream`). With `store` (the API's
default) the finished response is kept (`store/responses.py`) before the client hears it is
complete, so that `previous_response_id` continues it and `GET /v1/responses/{id}` reads it
(docs/responses.md).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from llmrelay.doors import responses_native
from llmrelay.doors.base import Door, Inbound, StreamEncoder
from llmrelay.doors.relay_state import Seal
from llmrelay.doors.responses_output import INCLUDE_STATE, ResponseShape, output_items
from llmrelay.doors.responses_request import (
    ChatTools,
    chat_tools,
    check_fields,
    input_items,
    instructions_of,
    relay_request,
)
from llmrelay.doors.responses_stream import ResponsesStream, Saver
from llmrelay.metering.tokens import TokenCounter
from llmrelay.protocol.errors import RelayError, invalid_request, invalid_type, store_unavailable
from llmrelay.protocol.usage import Usage
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.native import NativeRequest
from llmrelay.store.responses import ResponseStore, StoredResponse

if TYPE_CHECKING:
    from llmrelay.relay import Relay
    from llmrelay.store.keys import ApiKey

log = logging.getLogger("llmrelay.responses")


@dataclass(slots=True)
class ResponsesState:
    """What the door keeps of one request to answer it and to store it."""

    shape: ResponseShape
    items: list[dict[str, Any]]
    """This request's own input items (a string input as one user message)."""
    seal: Seal
    """Opens the relay's own `encrypted_content` in the input (relay_state.py)."""
    tools: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] | None = None
    """The stored turns `previous_response_id` names, oldest first (None: no previous)."""
    saver: Saver | None = None
    stored: dict[str, Any] | None = None
    """The whole answer as it is stored: with the state item the client may not see."""

    def native_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The client's body for an upstream that speaks the Responses API itself: a
        conversation the relay stored is spelled out in `input`, since that upstream does
        not know the relay's response ids."""
        if self.history is None:
            return body
        native = {k: v for k, v in body.items() if k != "previous_response_id"}
        native["input"] = self.history + self.items
        return native


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_type(name, "a boolean", value)
    return value


def _previous_id(body: dict[str, Any]) -> str | None:
    value = body.get("previous_response_id")
    if value is not None and (not isinstance(value, str) or not value):
        raise invalid_type("previous_response_id", "a non-empty string", value)
    return value


def _includes_state(body: dict[str, Any]) -> bool:
    include = body.get("include")
    return isinstance(include, list) and INCLUDE_STATE in include


def previous_not_found(response_id: str) -> RelayError:
    return invalid_request(
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


class ResponsesDoor(Door):
    endpoint = "responses"
    protocol = "openai-responses"

    def __init__(self, seal: Seal | None = None) -> None:
        self.seal = seal if seal is not None else Seal(secrets.token_bytes(32))
        """Seals and opens the upstream state a response carries (the installation's key)."""

    def parse(self, body: dict[str, Any]) -> Inbound:
        check_fields(body)
        items = input_items(body)
        instructions_of(body)
        tools = chat_tools(body)
        request = relay_request(body, items, tools.functions, self.seal)
        state = ResponsesState(self._shape(body, tools), items, self.seal, tools.functions)
        return Inbound(request, body=body, state=state)

    def _shape(self, body: dict[str, Any], tools: ChatTools) -> ResponseShape:
        shape = ResponseShape(body, frozenset(tools.custom), created_at=int(time.time()))
        shape.namespaced = tools.namespaced
        shape.previous_response_id = _previous_id(body)
        shape.store = _flag(body, "store", True)
        shape.show_state = _includes_state(body)
        if shape.show_state or shape.store:  # a stored conversation continues with it
            shape.seal = self.seal
        return shape

    async def prepare(self, inbound: Inbound, key: ApiKey, relay: Relay) -> None:
        state: ResponsesState = inbound.state
        store = relay.responses
        previous = state.shape.previous_response_id
        if previous is not None:
            inbound.request = await _with_history(store, inbound, previous, key.id)
        if state.shape.store:
            state.saver = _saver(store, state, key.id, inbound.request.model)

    def render(self, inbound: Inbound, answer: dict[str, Any], usage: Usage) -> dict[str, Any]:
        state: ResponsesState = inbound.state
        items, finish = output_items(state.shape, answer)
        state.stored = state.shape.finished(items, finish, usage.to_openai())
        return state.shape.visible(state.stored)

    async def finish(self, inbound: Inbound, rendered: dict[str, Any]) -> None:
        state: ResponsesState = inbound.state
        if state.saver is not None:  # (`stored` is None for a pass-through's answer)
            await state.saver(state.stored if state.stored is not None else rendered)

    def encoder(self, inbound: Inbound) -> StreamEncoder:
        state: ResponsesState = inbound.state
        return ResponsesStream(state.shape, state.saver)

    def error_body(self, error: RelayError) -> bytes:
        return error.json()

    def native_request(self, inbound: Inbound, call: UpstreamCall) -> NativeRequest | None:
        state: ResponsesState = inbound.state
        return responses_native.native_request(state.native_body(inbound.body or {}), call)

    def native_usage(self, answer: dict[str, Any]) -> Usage | None:
        return responses_native.usage_of(answer.get("usage"))

    def native_meter(self, counter: TokenCounter, messages: list[dict[str, Any]]) -> Any:
        return responses_native.ResponsesStreamMeter(counter, messages)


async def _with_history(store: ResponseStore, inbound: Inbound, previous: str, key_id: str):
    """The relay's request for the whole conversation: the stored turns, then this input."""
    state: ResponsesState = inbound.state
    body = inbound.body or {}

    def rebuild() -> Any:
        history = store.history(previous, key_id)
        if history is None:
            raise previous_not_found(previous)
        state.history = history
        return relay_request(body, history + state.items, state.tools, state.seal)

    try:
        return await asyncio.to_thread(rebuild)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("stored responses unavailable: %s", type(exc).__name__)
        raise store_unavailable() from None


def _saver(store: ResponseStore, state: ResponsesState, key_id: str, model: str) -> Saver:
    shape = state.shape

    async def save(response: dict[str, Any]) -> None:
        """Keeps `response` (the relay's own, or a pass-through upstream's) under its id."""
        stored = StoredResponse(
            id=str(response.get("id") or shape.id),
            key_id=key_id,
            model=model,
            status=str(response.get("status") or "completed"),
            previous_id=shape.previous_response_id,
            input_items=state.items,
            response=response,
            created_at=float(shape.created_at),
        )
        try:
            await asyncio.to_thread(store.save, stored)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not store response %s: %s", shape.id, type(exc).__name__)
            raise store_unavailable() from None

    return save
