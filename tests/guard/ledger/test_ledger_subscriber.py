from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.errors import MirrorguardError
from mirrorguard.guard.keys import Signer, Verifier
from mirrorguard.guard.ledger import (
    DuckDBLedgerBackend,
    Ledger,
    LedgerError,
    LedgerSubscriber,
    file_digest,
    ingest_event,
    verify_ledger,
)
from mirrorguard.guard.ledger.encoding import table_to_entries


def test_bus_events_become_entries(tmp_path: Path, keys: tuple[Signer, Verifier]) -> None:
    backend = DuckDBLedgerBackend(tmp_path / "s.duckdb")
    ledger = Ledger(backend, signer=keys[0], flush_every=1)
    bus = EventBus()
    sub = LedgerSubscriber(ledger)
    sub.attach(bus)
    src = tmp_path / "conn.log"
    src.write_bytes(b"line\n" * 10)
    bus.publish(ingest_event(src, format="zeek"))
    bus.publish(BusEvent(kind="verdict", actor="analyst-3",
                         payload={"alert_id": "a1", "label": "false_positive"}))
    ledger.close()
    rows = table_to_entries(DuckDBLedgerBackend(tmp_path / "s.duckdb",
                                                read_only=True).read_entries()[0])
    assert [r.kind for r in rows] == ["ingest", "verdict"]
    ingest = rows[0].payload_obj()
    assert ingest["sha256"] == hashlib.sha256(b"line\n" * 10).hexdigest()
    assert ingest["bytes"] == 50 and ingest["format"] == "zeek"
    assert rows[1].actor == "analyst-3"
    assert sub.recorded == 2
    assert verify_ledger(DuckDBLedgerBackend(tmp_path / "s.duckdb", read_only=True),
                         [keys[1]]).ok


def test_unrecordable_event_is_not_swallowed(tmp_path: Path) -> None:
    bus = EventBus()
    LedgerSubscriber(Ledger(DuckDBLedgerBackend(tmp_path / "s.duckdb"))).attach(bus)
    with pytest.raises(LedgerError):
        bus.publish(BusEvent(kind="alert", actor="automation", payload={"x": object()}))


def test_file_digest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MirrorguardError):
        file_digest(tmp_path / "nope")
