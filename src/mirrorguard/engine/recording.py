"""Wiring the decision ledger into a run: one bus, the ledger subscribed, stages publish.

Every command that decides something (ingest, detection, incidents, verdicts, model promotion)
builds its bus here. The ledger lives in the store's DuckDB file and seals itself with the
key named by ``guard.signing_key`` (a reference); without a key entries are still hash-chained
but unsealed, and ``mirrorguard ledger verify --require-sealed`` reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from mirrorguard.bus import EventBus
from mirrorguard.config.settings import Settings
from mirrorguard.guard.keys import Signer, load_private_key
from mirrorguard.guard.ledger import DuckDBLedgerBackend, Ledger, LedgerSubscriber
from mirrorguard.store import DuckDBStore


@contextmanager
def recorded_bus(settings: Settings, store: DuckDBStore) -> Iterator[EventBus]:
    """A bus whose events land in the store's ledger; flushed (and sealed) on exit."""
    ref = settings.guard.signing_key
    signer = Signer(load_private_key(ref)) if ref else None
    ledger = Ledger(DuckDBLedgerBackend(store.con), signer=signer, seal_on_close=signer is not None)
    bus = EventBus()
    LedgerSubscriber(ledger).attach(bus)
    try:
        yield bus
    finally:
        ledger.close()


def ledger_bus(settings: Settings, con: duckdb.DuckDBPyConnection) -> EventBus:
    """A bus for short commands (a verdict, a promotion): each event is written at once.

    The entries are hash-chained immediately; they are sealed by the next run that closes a
    ledger with a signing key (ingest, demo) or by ``mirrorguard ledger`` tooling.
    """
    ledger = Ledger(DuckDBLedgerBackend(con), signer=None, seal_every=None, flush_every=1,
                    seal_on_close=False)
    bus = EventBus()
    LedgerSubscriber(ledger).attach(bus)
    return bus
