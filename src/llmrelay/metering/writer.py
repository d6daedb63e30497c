"""The ledger writer: a small process of its own that drains outbox segments into the database.

Keeping database work out of the relay process keeps it off the relay's event loop and out of
its GIL: a batch insert that holds the GIL for milliseconds would otherwise show up in every
client's tail latency. It runs at the lowest CPU priority, drains every quarter second, and
drains once more when told to stop, or when the relay that started it (`--parent`) is gone.

A record the database refuses (a value out of a column's range, say) is set aside in
`rejected/` under the outbox, with an error in the log, so that it cannot hold up every
record after it; a database that cannot be reached leaves the records in the outbox. A
database that lost the ledger's table (recreated empty) is migrated again, and the records
go in.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from llmrelay.metering.outbox import drain
from llmrelay.store.database import migrate, open_engine, unavailable
from llmrelay.store.usage import UsageStore

DATABASE_URL_ENV = "LLMRELAY_WRITER_DATABASE_URL"
"""The URL comes by environment, never argv, so credentials stay out of process listings."""

REJECTED_DIR = "rejected"

log = logging.getLogger("llmrelay.writer")


class LedgerSink:
    """Where drained records go: the database, a batch at a time; when it refuses a batch,
    record by record, and the records it still refuses to `rejected/rejected-DAY.jsonl`."""

    def __init__(self, store: UsageStore, rejected: Path) -> None:
        self.store = store
        self.rejected = rejected

    def __call__(self, records: list[dict[str, Any]]) -> None:
        try:
            self.store.insert_many(records)
        except Exception as exc:
            if not self.restored_table():
                self.store_each(records, exc)
                return
        try:
            self.store.insert_many(records)
        except Exception as exc:
            self.store_each(records, exc)

    def restored_table(self) -> bool:
        """Whether the ledger's table was missing (the database recreated empty, say) and the
        migrations have just made it again. Raises if the database cannot be reached."""
        if self.store.has_table():
            return False
        log.warning("the ledger's table is missing (database recreated?); running migrations")
        migrate(self.store.engine)
        return self.store.has_table()

    def store_each(self, records: list[dict[str, Any]], exc: Exception) -> None:
        """After `exc` refused the batch: each record alone, setting aside the ones refused;
        or raise `exc` when the database itself is unavailable."""
        if unavailable(exc):
            raise exc
        log.warning(
            "the ledger refused a batch of %d records (%s); storing them one by one",
            len(records),
            _reason(exc),
        )
        self.set_aside(self.store.insert_each(records))

    def set_aside(self, refused: list[tuple[Any, Exception]]) -> None:
        """Write the refused records (as the outbox held them) where they are kept for good."""
        if not refused:
            return
        self.rejected.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.rejected / time.strftime("rejected-%Y-%m-%d.jsonl", time.gmtime())
        _append_durably(path, b"".join(orjson.dumps(record) + b"\n" for record, _ in refused))
        for record, exc in refused:
            request_id = record.get("request_id") if isinstance(record, dict) else None
            log.error(
                "ledger record %s cannot be stored (%s); set aside in %s",
                request_id,
                _reason(exc),
                path,
            )


def _reason(exc: Exception) -> str:
    """The exception's first line, short: SQLAlchemy's add the statement and its values."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


def _append_durably(path: Path, data: bytes) -> None:
    """Append and fsync before the segment goes: set aside must not mean lost."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def run(outbox: Path, interval: float, parent: int, once: bool = False) -> None:
    stopping = threading.Event()
    if once:
        stopping.set()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    store = UsageStore(open_engine(os.environ[DATABASE_URL_ENV]))
    sink = LedgerSink(store, outbox / REJECTED_DIR)
    while not stopping.is_set() and os.getppid() == parent:
        drain_once(outbox, sink)
        stopping.wait(interval)
    drain_once(outbox, sink)  # whatever the relay wrote last, or left when it died


def drain_once(outbox: Path, sink: LedgerSink) -> None:
    try:
        drain(outbox, sink)
    except Exception:
        log.exception("ledger drain failed; the records stay in the outbox for the next try")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--parent", type=int, required=True, help="exit when it is gone")
    parser.add_argument("--once", action="store_true", help="drain once and exit")
    args = parser.parse_args()
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    yield_to_the_relay()
    run(args.outbox, args.interval, args.parent, args.once)


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
