"""Ledger tables inside a DuckDB file (the embedded store, ARCHITECTURE §5).

Tables: ``ledger_meta`` (key/value: ``ledger_id``, ``format``), ``ledger_entries`` (one row
per entry, hashes as lower-case hex) and ``ledger_seals`` (one row per seal). The backend only
ever inserts; nothing in mirrorguard updates or deletes these rows, and :mod:`.verify` proves
nobody else did either.

>>> import pyarrow as pa
>>> b = DuckDBLedgerBackend(":memory:")
>>> len(b.ledger_id())
32
>>> b.read_entries()[0].num_rows
0
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mirrorguard.guard.ledger.base import LedgerError, ReadProblem
from mirrorguard.guard.ledger.encoding import ENTRY_SCHEMA
from mirrorguard.guard.ledger.seal import Seal

FORMAT = "mirrorguard-ledger/1"

_DDL = """
CREATE TABLE IF NOT EXISTS ledger_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_entries (
    seq BIGINT NOT NULL, time VARCHAR NOT NULL, kind VARCHAR NOT NULL, actor VARCHAR NOT NULL,
    payload VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, entry_hash VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_seals (
    ledger_id VARCHAR NOT NULL, seal_no BIGINT NOT NULL, first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL, root VARCHAR NOT NULL, last_hash VARCHAR NOT NULL,
    prev_seal_hash VARCHAR NOT NULL, key_id VARCHAR NOT NULL, time VARCHAR NOT NULL,
    signature VARCHAR NOT NULL);
"""
_SEAL_COLS = (
    "ledger_id", "seal_no", "first_seq", "last_seq", "root", "last_hash", "prev_seal_hash",
    "key_id", "time", "signature",
)


class DuckDBLedgerBackend:
    """Ledger storage in DuckDB; pass a file path or an open connection (e.g. the store's)."""

    ranged_reads = True  # reading a seq range is cheap (zone maps), so verify in chunks

    def __init__(
        self, target: Path | str | duckdb.DuckDBPyConnection, *, read_only: bool = False
    ) -> None:
        self._owns = not isinstance(target, duckdb.DuckDBPyConnection)
        self.location = "<connection>" if not self._owns else str(target)
        self.read_only = read_only
        try:
            if isinstance(target, duckdb.DuckDBPyConnection):
                self.con = target
            else:
                self.con = duckdb.connect(str(target), read_only=read_only)
            if not read_only:
                self.con.execute(_DDL)
        except duckdb.Error as exc:
            raise LedgerError(f"cannot open ledger: {exc}", file=self.location) from exc
        self._id: str | None = None

    def ledger_id(self) -> str:
        if self._id is None:
            self._id = self._load_or_create_id()
        return self._id

    def _load_or_create_id(self) -> str:
        try:
            row = self.con.execute(
                "SELECT value FROM ledger_meta WHERE key = 'ledger_id'"
            ).fetchone()
        except duckdb.CatalogException as exc:
            raise LedgerError("no ledger tables in this database", file=self.location) from exc
        if row is not None:
            return str(row[0])
        if self.read_only:
            raise LedgerError("ledger has no id (never written)", file=self.location)
        new_id = uuid.uuid4().hex
        self.con.execute(
            "INSERT INTO ledger_meta VALUES ('ledger_id', ?), ('format', ?)", [new_id, FORMAT]
        )
        return new_id

    def append_entries(self, table: pa.Table, seal: Seal | None = None) -> None:
        name = "_mg_ledger_batch"
        own_txn = self._begin()
        try:
            if table.num_rows:
                self.con.register(name, table.cast(ENTRY_SCHEMA))
                try:
                    self.con.execute(f"INSERT INTO ledger_entries SELECT * FROM {name}")  # noqa: S608
                finally:
                    self.con.unregister(name)
            if seal is not None:
                marks = ", ".join("?" for _ in _SEAL_COLS)
                self.con.execute(f"INSERT INTO ledger_seals VALUES ({marks})",  # noqa: S608
                                 [getattr(seal, c) for c in _SEAL_COLS])
            if own_txn:
                self.con.execute("COMMIT")
        except duckdb.Error as exc:
            if own_txn:
                self.con.execute("ROLLBACK")
            raise LedgerError(f"cannot append to the ledger: {exc}", file=self.location) from exc

    def _begin(self) -> bool:
        """Start a transaction on a connection this backend opened. A shared connection
        (e.g. the store's) is left to its owner, who may already hold a transaction: each
        statement then commits on its own or with the owner's transaction."""
        if not self._owns:
            return False
        self.con.execute("BEGIN TRANSACTION")
        return True

    def read_entries(
        self, first_seq: int | None = None, last_seq: int | None = None
    ) -> tuple[pa.Table, list[ReadProblem]]:
        lo = -(2**63) if first_seq is None else first_seq
        hi = 2**63 - 1 if last_seq is None else last_seq
        try:
            table = self.con.sql(
                "SELECT seq, time, kind, actor, payload, prev_hash, entry_hash "
                "FROM ledger_entries WHERE seq BETWEEN $1 AND $2",
                params=[lo, hi],
            ).to_arrow_table()
        except duckdb.Error as exc:
            raise LedgerError(f"cannot read entries: {exc}", file=self.location) from exc
        # rows come back in insertion order, which is seq order unless someone meddled:
        # sorting only then is cheaper than ORDER BY on every read (stable, like ORDER BY)
        seq = table["seq"].to_numpy()
        if len(seq) > 1 and not bool(np.all(seq[1:] >= seq[:-1])):
            table = table.take(pc.sort_indices(table, [("seq", "ascending")]))
        return table.cast(ENTRY_SCHEMA), []

    def read_seals(self) -> tuple[list[Seal], list[ReadProblem]]:
        cols = ", ".join(_SEAL_COLS)
        try:
            rows = self.con.execute(
                f"SELECT {cols} FROM ledger_seals ORDER BY seal_no"  # noqa: S608
            ).fetchall()
        except duckdb.Error as exc:
            raise LedgerError(f"cannot read seals: {exc}", file=self.location) from exc
        seals: list[Seal] = []
        problems: list[ReadProblem] = []
        for pos, row in enumerate(rows):
            try:
                seals.append(Seal.from_dict(dict(zip(_SEAL_COLS, row, strict=True))))
            except LedgerError as exc:
                problems.append(ReadProblem("seal", pos, None, exc.message))
        return seals, problems

    def close(self) -> None:
        if self._owns:
            self.con.close()
