"""Key changes across machines: a Redis pub/sub channel beside the data directory's counter.

On one machine every process follows key changes through the shared generation counter file.
Replicas on other machines cannot see that file, so whoever changes a key also publishes on
`llmrelay:keys`, and every relay subscribed to it counts the message as a change: its key table
reloads before the next request. After a lost connection the listener counts a change too,
since messages sent meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from llmrelay.store.generation import GenerationCounter

log = logging.getLogger("llmrelay.keys")

CHANNEL = "llmrelay:keys"


def announce_through(redis_url: str) -> Any:
    """A blocking announcer, for the threads and CLI commands that change keys."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)

    def announce() -> None:
        try:
            client.publish(CHANNEL, b"changed")
        except redis.RedisError as exc:
            log.warning("could not announce a key change through Redis: %s", exc)

    return announce


async def follow_key_changes(client: Any, generation: GenerationCounter) -> None:
    """Count every announced change into `generation` until cancelled."""
    while True:
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                generation.remote_changes += 1  # whatever was missed while away
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        generation.remote_changes += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("key-change channel lost (%s); reconnecting", exc)
            await asyncio.sleep(1.0)
