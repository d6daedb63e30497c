"""Stored responses of the Responses door: `previous_response_id` continues a conversation,
`GET`/`DELETE /v1/responses/{id}` read and remove one, only for the key that created it, and
never once it has expired; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import sqlalchemy as sa

from tests.conftest import RunningRelay, relay_config, start_relay, stop_relay
from tests.e2e.test_postgres_outages import refusing_connections
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import fresh_postgres_database

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def other_key(relay: RunningRelay) -> str:
    return relay.create_key("responses-other")


def test_previous_response_id_continues_the_conversation(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    first = client.responses.create(model="gpt-5", input="first words", instructions="Old rule.")
    second = client.responses.create(
        model="gpt-5", input="second words", previous_response_id=first.id, instructions="New."
    )
    assert second.previous_response_id == first.id
    assert mock_openai.last().body["messages"] == [
        {"role": "system", "content": "New."},
        {"role": "user", "content": "first words"},
        {"role": "assistant", "content": "echo: first words"},
        {"role": "user", "content": "second words"},
    ]
    client.responses.create(model="gpt-5", input="third", previous_response_id=second.id)
    texts = [m["content"] for m in mock_openai.last().body["messages"]]
    assert texts == [
        "first words",
        "echo: first words",
        "second words",
        "echo: second words",
        "third",
    ]


def test_a_streamed_response_is_stored_before_it_completes(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    with client.responses.stream(model="gpt-5", input="streamed words") as stream:
        completed = [e for e in stream if e.type == "response.completed"]
        [event] = completed
        # the moment the client hears `completed`, the response continues
        follow = client.responses.create(
            model="gpt-5", input="next", previous_response_id=event.response.id
        )
    assert follow.output_text == "echo: next"
    assert [m["content"] for m in mock_openai.last().body["messages"]] == [
        "streamed words",
        "echo: streamed words",
        "next",
    ]


def test_a_function_call_continues_with_its_output(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    asked = client.responses.create(model="tools-model", input="weather?", tools=[WEATHER_TOOL])
    [call] = asked.output
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    client.responses.create(
        model="gpt-5", input=[output], previous_response_id=asked.id, tools=[WEATHER_TOOL]
    )
    messages = mock_openai.last().body["messages"]
    assert messages[0] == {"role": "user", "content": "weather?"}
    assert messages[1]["tool_calls"][0]["id"] == call.call_id
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}


def test_get_and_delete_a_stored_response(client: openai.OpenAI, http: httpx.Client) -> None:
    created = client.responses.create(model="gpt-5", input="keep me", metadata={"k": "v"})
    fetched = client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert http.delete(f"/v1/responses/{created.id}").json() == {
        "id": created.id,
        "object": "response",
        "deleted": True,
    }
    for method in ("GET", "DELETE"):
        gone = http.request(method, f"/v1/responses/{created.id}")
        assert gone.status_code == 404
        assert gone.json()["error"]["message"] == f"Response with id '{created.id}' not found."
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gpt-5", input="x", previous_response_id=created.id)
    assert refused.value.body["code"] == "previous_response_not_found"


def test_only_the_key_that_created_a_response_can_use_it(
    client: openai.OpenAI, relay: RunningRelay, other_key: str
) -> None:
    created = client.responses.create(model="gpt-5", input="mine")
    with openai.OpenAI(base_url=relay.base_url, api_key=other_key, max_retries=0) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(created.id)
        with pytest.raises(openai.BadRequestError) as refused:
            other.responses.create(model="gpt-5", input="x", previous_response_id=created.id)
    error = refused.value.body
    assert (error["code"], error["param"]) == (
        "previous_response_not_found",
        "previous_response_id",
    )
    assert client.responses.retrieve(created.id).id == created.id
    anonymous = httpx.get(f"{relay.url}/v1/responses/{created.id}")
    assert anonymous.status_code == 401


def test_input_items_are_listed_a_page_at_a_time(
    client: openai.OpenAI, http: httpx.Client, relay: RunningRelay, other_key: str
) -> None:
    """Newest first by default, with OpenAI's list fields; `order`, `limit` and `after` page
    through them; a message sent as a string is listed with content parts."""
    items = [
        {"role": "developer", "content": "Rules."},
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"type": "message", "role": "assistant", "content": "ok", "id": "msg_mine"},
        {"role": "user", "content": "second"},
    ]
    created = client.responses.create(model="gpt-5", input=items)
    listed = client.responses.input_items.list(created.id)
    texts = [item.content[0].text for item in listed.data]
    assert texts == ["second", "ok", "first", "Rules."]
    assert [item.role for item in listed.data] == ["user", "assistant", "user", "developer"]
    assert listed.data[1].id == "msg_mine" and all(item.id for item in listed.data)
    raw = http.get(f"/v1/responses/{created.id}/input_items", params={"order": "asc", "limit": 3})
    page = raw.json()
    assert (page["object"], page["has_more"], len(page["data"])) == ("list", True, 3)
    assert (page["first_id"], page["last_id"]) == (page["data"][0]["id"], page["data"][-1]["id"])
    rest = http.get(
        f"/v1/responses/{created.id}/input_items",
        params={"order": "asc", "after": page["last_id"]},
    ).json()
    assert ([i["content"][0]["text"] for i in rest["data"]], rest["has_more"]) == (
        ["second"],
        False,
    )
    again = http.get(f"/v1/responses/{created.id}/input_items", params={"order": "asc"}).json()
    assert [i["id"] for i in again["data"]] == [i["id"] for i in page["data"] + rest["data"]]
    assert http.get(f"/v1/responses/{created.id}/input_items?limit=0").status_code == 400
    other = openai.OpenAI(base_url=relay.base_url, api_key=other_key, max_retries=0)
    with other, pytest.raises(openai.NotFoundError):
        other.responses.input_items.list(created.id)
    assert http.get("/v1/responses/resp_unknown/input_items").status_code == 404


def test_store_false_keeps_nothing(client: openai.OpenAI, http: httpx.Client) -> None:
    created = client.responses.create(model="gpt-5", input="forget me", store=False)
    assert created.store is False
    assert http.get(f"/v1/responses/{created.id}").status_code == 404
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-5", input="x", previous_response_id=created.id)


def test_unknown_previous_id_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gpt-5", input="x", previous_response_id="resp_nope")
    assert refused.value.body["code"] == "previous_response_not_found"


def expire(relay: RunningRelay, response_id: str) -> None:
    """Backdates a stored response's expiry, as if its time had passed."""
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE stored_responses SET expires_at = :t WHERE id = :id"),
                {"t": time.time() - 1, "id": response_id},
            )
    finally:
        engine.dispose()


def stored_ids(relay: RunningRelay) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id FROM stored_responses")).all()
    finally:
        engine.dispose()
    return {row.id for row in rows}


def test_an_expired_response_is_not_served(
    client: openai.OpenAI, http: httpx.Client, relay: RunningRelay
) -> None:
    created = client.responses.create(model="gpt-5", input="old")
    assert http.get(f"/v1/responses/{created.id}").status_code == 200
    expire(relay, created.id)
    assert http.get(f"/v1/responses/{created.id}").status_code == 404
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-5", input="x", previous_response_id=created.id)


def test_expired_rows_are_deleted_when_new_ones_are_stored(
    mock_openai: MockOpenAI, tmp_path: Path
) -> None:
    """The first response a process stores deletes the rows that have expired (and then at
    most once a minute): a relay restarted over expired rows clears them."""
    running = start_relay(relay_config(mock_openai), tmp_path)
    try:
        key = running.create_key("purge")
        client = openai.OpenAI(base_url=running.base_url, api_key=key, max_retries=0)
        old = client.responses.create(model="gpt-5", input="old").id
        kept = client.responses.create(model="gpt-5", input="kept").id
        expire(running, old)
        stop_relay(running)
        running = start_relay(relay_config(mock_openai), tmp_path)
        client = openai.OpenAI(base_url=running.base_url, api_key=key, max_retries=0)
        new = client.responses.create(model="gpt-5", input="new").id
        assert stored_ids(running) == {kept, new}
    finally:
        stop_relay(running)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def postgres_relay(
    mock_openai: MockOpenAI, postgres_url: str, tmp_path_factory
) -> Iterator[RunningRelay]:
    config = relay_config(mock_openai)
    config["server"]["database_url"] = postgres_url
    config["responses"] = {"store_ttl_days": 1}
    running = start_relay(config, Path(tmp_path_factory.mktemp("responses-pg")))
    yield running
    stop_relay(running)


@pytest.mark.postgres
def test_stored_responses_on_postgresql(
    postgres_relay: RunningRelay, mock_openai: MockOpenAI
) -> None:
    key = postgres_relay.create_key("pg")
    with openai.OpenAI(base_url=postgres_relay.base_url, api_key=key, max_retries=0) as client:
        first = client.responses.create(model="gpt-5", input="über ☃")
        assert client.responses.retrieve(first.id).output_text == "echo: über ☃"
        with client.responses.stream(
            model="gpt-5", input="more", previous_response_id=first.id
        ) as stream:
            final = stream.get_final_response()
    assert final.output_text == "echo: more"
    sent = mock_openai.last().body["messages"]
    assert json.dumps(sent[:2], ensure_ascii=False) == json.dumps(
        [{"role": "user", "content": "über ☃"}, {"role": "assistant", "content": "echo: über ☃"}],
        ensure_ascii=False,
    )


@pytest.mark.postgres
def test_a_response_that_cannot_be_stored_is_not_reported_complete(
    postgres_relay: RunningRelay, postgres_url: str
) -> None:
    """While the database refuses connections: `store: true` answers 503 `store_unavailable`
    (a stream ends with `response.failed`), since a later `previous_response_id` could not
    find the response; `store: false` is still answered."""
    key = postgres_relay.create_key("pg-outage")
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": "gpt-5", "input": "hello"}
    url = postgres_relay.url + "/v1/responses"
    warm = httpx.post(url, json={**body, "store": False}, headers=headers, timeout=30)
    assert warm.status_code == 200, warm.text  # the relay knows the new key from here on
    with refusing_connections(postgres_url):
        whole = httpx.post(url, json=body, headers=headers, timeout=30)
        assert whole.status_code == 503, whole.text
        assert whole.json()["error"]["code"] == "store_unavailable"
        assert "could not store response" in postgres_relay.log()
        with httpx.stream("POST", url, json={**body, "stream": True}, headers=headers) as r:
            assert r.status_code == 200
            frames = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        assert [f["type"] for f in frames][-1] == "response.failed"
        assert frames[-1]["response"]["error"]["code"] == "store_unavailable"
        assert "response.completed" not in [f["type"] for f in frames]
        unstored = httpx.post(url, json={**body, "store": False}, headers=headers, timeout=30)
        assert unstored.status_code == 200, unstored.text
        assert unstored.json()["output"][0]["content"][0]["text"] == "echo: hello"
        got = httpx.get(f"{url}/resp_x", headers=headers, timeout=30)
        assert got.status_code == 503
