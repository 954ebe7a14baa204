"""Helpers shared by the ledger tests: deterministic records and backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mirrorguard.guard.ledger import DuckDBLedgerBackend, JsonlLedgerBackend, LedgerBackend

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def records(n: int, start: int = 0) -> list[tuple[str, str, object, datetime]]:
    kinds = ["alert", "verdict", "ingest", "action", "incident", "model"]
    out = []
    for i in range(start, start + n):
        kind = kinds[i % len(kinds)]
        actor = "automation" if kind != "verdict" else f"analyst-{i % 3}"
        payload = {"id": f"x{i}", "score": i / 7, "label": "true_positive",
                   "entities": {"ip": ["10.0.0.1"]}, "note": "ünïcode | 3:abc"}
        out.append((kind, actor, payload, T0 + timedelta(seconds=i)))
    return out


def make_backend(kind: str, tmp: Path) -> LedgerBackend:
    if kind == "duckdb":
        return DuckDBLedgerBackend(tmp / "store.duckdb")
    return JsonlLedgerBackend(tmp / "x.ledger", fsync=False)
