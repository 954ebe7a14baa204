"""The ledger listens to the event bus; stages never write the ledger directly.

>>> from mirrorguard.bus import BusEvent, EventBus
>>> from mirrorguard.guard.ledger.duckdb_backend import DuckDBLedgerBackend
>>> from mirrorguard.guard.ledger.ledger import Ledger
>>> ledger = Ledger(DuckDBLedgerBackend(":memory:"), flush_every=1)
>>> bus = EventBus()
>>> LedgerSubscriber(ledger).attach(bus)
>>> bus.publish(BusEvent(kind="alert", actor="automation", payload={"alert_id": "a1"}))
>>> ledger.next_seq
1
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.errors import MirrorguardError
from mirrorguard.guard.ledger.ledger import Ledger


class LedgerSubscriber:
    """Turns each :class:`~mirrorguard.bus.BusEvent` into a ledger entry.

    The event's kind, actor, payload and time are recorded as they are; a payload that cannot
    be canonicalised raises :class:`~mirrorguard.guard.ledger.base.LedgerError` back to the
    publisher (a decision that cannot be recorded must not pass silently).
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.recorded = 0

    def __call__(self, event: BusEvent) -> None:
        self.ledger.append(event.kind, event.actor, event.payload, time=event.time)
        self.recorded += 1

    def attach(self, bus: EventBus) -> None:
        """Subscribe to ``bus``."""
        bus.subscribe(self)


def file_digest(path: Path) -> str:
    """SHA-256 of a file, streamed (hex)."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise MirrorguardError(f"cannot hash file: {exc.strerror}", file=str(path)) from exc


def ingest_event(path: Path, *, actor: str = "automation", **extra: object) -> BusEvent:
    """The bus event an ingest stage publishes for one source file: its path, size and digest."""
    payload = {"path": str(path), "sha256": file_digest(path), "bytes": path.stat().st_size}
    payload.update(extra)
    return BusEvent(kind="ingest", actor=actor, payload=payload)
