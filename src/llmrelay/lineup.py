"""The providers, models and routing in force, and how a replaced set is let go of.

A request takes the lineup in force when it begins (`Lineup.take`) and holds it to its end
(`release`): whatever a reload (reload.py) puts in its place meanwhile, the request's model,
price, deployments and providers stay the ones it started with. A replaced lineup's
providers that no lineup still held keeps are closed once the last request holding them
has ended (docs/deploy.md, "Reload and drain").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from llmrelay.providers import Provider
from llmrelay.routing.catalog import ModelCatalog
from llmrelay.routing.router import Router

log = logging.getLogger("llmrelay.reload")


@dataclass(eq=False)
class Lineup:
    providers: dict[str, Provider]
    """The providers some model uses, by name."""
    catalog: ModelCatalog
    router: Router
    users: int = 0
    """Requests in flight that hold it."""
    on_idle: Callable[[Lineup], None] | None = None
    """Once it is replaced: called when its last request ends."""

    def take(self) -> Lineup:
        self.users += 1
        return self

    def release(self) -> None:
        self.users -= 1
        if not self.users and self.on_idle is not None:
            self.on_idle(self)


class Lineups:
    """The lineup in force, and the replaced ones requests still hold."""

    def __init__(self, current: Lineup) -> None:
        self.current = current
        self.replaced: list[Lineup] = []
        self.lock = asyncio.Lock()
        """Held by a reload from reading the file to the swap: one reload at a time."""
        self._closing: set[asyncio.Task[None]] = set()

    def swap(self, new: Lineup) -> Lineup:
        """Put `new` in force for the requests that begin from now on; returns the old one,
        whose providers `new` does not keep are closed once no request holds them."""
        old, self.current = self.current, new
        self.replaced.append(old)
        old.on_idle = self._retire
        if not old.users:
            self._retire(old)
        return old

    def _held(self) -> set[int]:
        lineups = (self.current, *self.replaced)
        return {id(provider) for lineup in lineups for provider in lineup.providers.values()}

    def _retire(self, lineup: Lineup) -> None:
        lineup.on_idle = None
        self.replaced = [other for other in self.replaced if other is not lineup]
        held = self._held()
        for provider in lineup.providers.values():
            if id(provider) not in held:
                task = asyncio.get_running_loop().create_task(close_provider(provider))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """At shutdown: every provider of every lineup, and the routers' health checks."""
        seen: set[int] = set()
        for lineup in (self.current, *self.replaced):
            await lineup.router.stop()
            for provider in lineup.providers.values():
                if id(provider) not in seen:
                    seen.add(id(provider))
                    await close_provider(provider)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def close_provider(provider: Provider) -> None:
    try:
        await provider.close()
    except Exception:
        log.exception("provider %s did not close cleanly", provider.name)
