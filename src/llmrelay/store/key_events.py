"""Key changes across machines: the database's generation row, and optionally Redis pub/sub.

On one machine every process follows key changes through the data directory's counter file
(`store/generation.py`): the next request sees them. Replicas on other machines cannot see
that file, so every key change also moves the `key_generation` row, in the change's own
transaction, and each relay polls that row once a second: a change reaches every replica
sharing the database within a second, with nothing else shared. With Redis, whoever changes
a key also publishes on `llmrelay:keys`, and subscribed relays reload within milliseconds;
the poll still runs, for messages lost while a subscriber was away.

Either way a seen change is counted into the counter's `remote_changes`, so the key table
reloads before the next request (`gate/auth.py`); nothing is queried per request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa

from llmrelay.store.generation import GenerationCounter
from llmrelay.store.schema import key_generation

log = logging.getLogger("llmrelay.keys")

CHANNEL = "llmrelay:keys"
POLL_SECONDS = 1.0
"""How often each relay reads the database's generation row: the bound on how long a key
change takes to reach a replica on another machine without Redis."""

_ROW = key_generation.c.id == 1


def bump_database_generation(connection: sa.Connection) -> None:
    """Move the shared generation, inside the transaction that changes keys."""
    moved = connection.execute(
        sa.update(key_generation).where(_ROW).values(value=key_generation.c.value + 1)
    )
    if moved.rowcount == 0:  # the row was deleted by hand: start it again
        connection.execute(sa.insert(key_generation).values(id=1, value=1))


def read_database_generation(engine: sa.Engine) -> int:
    """The shared generation (blocking: run it in a worker thread)."""
    with engine.connect() as connection:
        return connection.execute(sa.select(key_generation.c.value).where(_ROW)).scalar() or 0


async def follow_database_generation(
    engine: sa.Engine, generation: GenerationCounter, seen: int, interval: float = POLL_SECONDS
) -> None:
    """Count every move of the database's generation since `seen` into `generation`, reading
    it once per `interval` in a worker thread, until cancelled."""
    loop = asyncio.get_running_loop()
    failing = False
    while True:
        started = loop.time()
        try:
            value = await asyncio.to_thread(read_database_generation, engine)
        except Exception as exc:
            if not failing:
                log.warning("cannot read the key generation (%s); retrying", type(exc).__name__)
            failing = True
        else:
            if failing:
                log.info("the key generation can be read again")
            failing = False
            if value != seen:
                seen = value
                generation.remote_changes += 1
        await asyncio.sleep(max(0.0, interval - (loop.time() - started)))


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
    """Count every change announced through Redis into `generation` until cancelled."""
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
