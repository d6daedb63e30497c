"""The ledger writer: a small process of its own that drains outbox segments into the database.

Keeping database work out of the relay process keeps it off the relay's event loop and out of
its GIL: a batch insert that holds the GIL for milliseconds would otherwise show up in every
client's tail latency. It runs only when the CPU is otherwise idle, drains every quarter
second, and drains once more when told to stop (or when the relay that started it dies).
"""

from __future__ import annotations

import argparse
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


def run(outbox: Path, interval: float) -> None:
    store = UsageStore(open_engine(os.environ[DATABASE_URL_ENV]))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    parent = os.getppid()
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
    args = parser.parse_args()
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    yield_to_the_relay()
    run(args.outbox, args.interval)


def yield_to_the_relay() -> None:
    """Run only when the CPU has nothing else to do (SCHED_IDLE), else at the lowest nice.

    Records are durable in the outbox already, so the database may lag under full load; what
    must not happen is the writer taking a time slice while a client waits on the relay.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


if __name__ == "__main__":
    main()
