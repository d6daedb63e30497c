"""The ledger writer: a small process of its own that drains outbox segments into the database.

Keeping database work out of the relay process keeps it off the relay's event loop and out of
its GIL: a batch insert that holds the GIL for milliseconds would otherwise show up in every
client's tail latency. It runs at the lowest CPU priority, drains every quarter second, and
drains once more when told to stop, or when the relay that started it (`--parent`) is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

from llmrelay.metering.outbox import drain
from llmrelay.store.database import open_engine
from llmrelay.store.usage import UsageStore

DATABASE_URL_ENV = "LLMRELAY_WRITER_DATABASE_URL"
"""The URL comes by environment, never argv, so credentials stay out of process listings."""

log = logging.getLogger("llmrelay.writer")


def run(outbox: Path, interval: float, parent: int) -> None:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    store = UsageStore(open_engine(os.environ[DATABASE_URL_ENV]))
    while not stopping.is_set() and os.getppid() == parent:
        _drain_once(outbox, store)
        stopping.wait(interval)
    _drain_once(outbox, store)  # whatever the relay wrote last, or left when it died


def _drain_once(outbox: Path, store: UsageStore) -> None:
    try:
        drain(outbox, store.insert_many)
    except Exception:
        log.exception("ledger drain failed; the records stay in the outbox for the next try")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--parent", type=int, required=True, help="exit when it is gone")
    args = parser.parse_args()
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    yield_to_the_relay()
    run(args.outbox, args.interval, args.parent)


def yield_to_the_relay() -> None:
    """Lowest priority that still always makes progress: nice 19 under SCHED_BATCH, which
    never preempts a waking relay. (SCHED_IDLE would starve outright on a saturated core.)
    Records are durable in the outbox already; the database may lag while the core is busy.
    """
    os.nice(19)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


if __name__ == "__main__":
    main()
