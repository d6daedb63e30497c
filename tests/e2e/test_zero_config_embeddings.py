"""With no configuration at all, the relay serves an embedding model of its own, offline."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.conftest import launch_relay, stop_relay, wait_for_text, wait_ready


@pytest.mark.local_model
def test_zero_config_lists_and_serves_the_embedding_model(tmp_path) -> None:
    relay = launch_relay(tmp_path)
    try:
        banner = wait_for_text(relay.log, "Web console")
        admin_key = re.search(r"^  (sk-\S+)$", banner, re.MULTILINE).group(1)
        wait_ready(relay)
        headers = {"authorization": f"Bearer {admin_key}"}
        models = httpx.get(relay.base_url + "/models", headers=headers, timeout=10).json()
        assert {"smollm2-135m-instruct", "all-minilm-l6-v2"} <= {m["id"] for m in models["data"]}
        # Which doors each answers (the console's playground offers only models that chat).
        doors = {m["id"]: m["endpoints"] for m in models["data"]}
        assert doors["all-minilm-l6-v2"] == ["embeddings"]
        assert doors["smollm2-135m-instruct"] == ["chat", "messages", "responses", "completions"]
        with openai.OpenAI(base_url=relay.base_url, api_key=admin_key, max_retries=0) as sdk:
            answer = sdk.embeddings.create(
                model="all-minilm-l6-v2",
                input=["How do I reset my password?", "I forgot my login password", "Sunny day"],
            )
    finally:
        stop_relay(relay)
    query, paraphrase, unrelated = (item.embedding for item in answer.data)
    assert len(query) == 384
    assert sum(a * b for a, b in zip(query, paraphrase, strict=True)) > sum(
        a * b for a, b in zip(query, unrelated, strict=True)
    )
