"""API keys from the CLI: shown once, stored as hashes, refused the moment they are revoked."""

from __future__ import annotations

import hashlib
import re

import openai
import pytest
import sqlalchemy as sa

from tests.conftest import RunningRelay, wait_for_text

HELLO = [{"role": "user", "content": "hello"}]


def test_create_prints_the_key_alone_on_the_last_line(relay: RunningRelay) -> None:
    result = relay.cli("keys", "create", "--name", "last-line")
    last = result.stdout.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{40,}", last)


def test_only_a_hash_is_stored(relay: RunningRelay) -> None:
    key = relay.create_key("hashed")
    database = (relay.data_dir / "llmrelay.db").read_bytes()
    assert key.encode() not in database
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")
    with engine.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT key_hash FROM api_keys WHERE name = 'hashed'")
        ).scalar_one()
    engine.dispose()
    assert stored == hashlib.sha256(key.encode()).hexdigest()


def test_duplicate_name_is_refused(relay: RunningRelay) -> None:
    relay.create_key("twice")
    result = relay.cli("keys", "create", "--name", "twice", check=False)
    assert result.returncode != 0
    assert "already exists" in result.stderr


def test_unknown_model_in_allowlist_is_refused(relay: RunningRelay) -> None:
    result = relay.cli("keys", "create", "--name", "typo", "--models", "gpt-6", check=False)
    assert result.returncode != 0
    assert "gpt-6" in result.stderr


def test_list_shows_keys_without_secrets(relay: RunningRelay) -> None:
    key = relay.create_key("listed", models="gpt-5,qwen3-max")
    listing = relay.cli("keys", "list").stdout
    row = next(line for line in listing.splitlines() if line.startswith("listed "))
    assert "active" in row and "gpt-5,qwen3-max" in row
    assert key not in listing and key[:8] in listing


def test_revoked_key_is_refused_on_the_very_next_request(relay: RunningRelay) -> None:
    key = relay.create_key("short-lived")
    client = openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0)
    assert client.chat.completions.create(model="gpt-5", messages=HELLO).choices
    revoke = relay.cli("keys", "revoke", "short-lived")
    assert "Revoked" in revoke.stdout
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-5", messages=HELLO)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert "revoked" in next(
        line
        for line in relay.cli("keys", "list").stdout.splitlines()
        if line.startswith("short-lived ")
    )


def test_a_revoked_key_is_told_it_was_revoked(relay: RunningRelay) -> None:
    key = relay.create_key("revoked-says-so")
    relay.cli("keys", "revoke", "revoked-says-so")
    client = openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-5", messages=HELLO)
    assert "has been revoked" in caught.value.body["message"]
    assert caught.value.body["code"] == "invalid_api_key"
    never_issued = openai.OpenAI(
        base_url=relay.base_url, api_key="sk-never-issued-" + "0" * 32, max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        never_issued.models.list()
    assert "revoked" not in caught.value.body["message"]


def test_create_without_a_name_makes_up_one_that_does_not_collide(relay: RunningRelay) -> None:
    first = relay.cli("keys", "create").stdout
    second = relay.cli("keys", "create").stdout
    names = [re.search(r"Created key '(key-[0-9a-f]{8})'", out).group(1) for out in (first, second)]
    assert names[0] != names[1]
    assert first.splitlines()[-1] != second.splitlines()[-1]
    listing = relay.cli("keys", "list").stdout
    assert all(name in listing for name in names)


def test_revoking_an_unknown_key_fails_cleanly(relay: RunningRelay) -> None:
    result = relay.cli("keys", "revoke", "nobody", check=False)
    assert result.returncode == 1
    assert "no key named 'nobody'" in result.stderr


def test_models_lists_only_what_the_key_may_use(relay: RunningRelay, client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert {"gpt-5", "claude-sonnet-4-6", "qwen3-max", "smollm2-135m-instruct"} <= set(ids)
    card = client.models.retrieve("claude-sonnet-4-6")
    assert card.id == "claude-sonnet-4-6" and card.object == "model"
    assert card.owned_by == "mock" and isinstance(card.created, int)


def test_cli_models_and_usage(relay: RunningRelay, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="qwen3-max", messages=HELLO)
    models = relay.cli("models").stdout
    assert "qwen3-max" in models and "mock-echo" in models
    usage = wait_for_text(lambda: relay.cli("usage").stdout, "qwen3-max", 15)
    assert "tests" in usage
