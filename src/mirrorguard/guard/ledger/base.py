"""The ledger's storage contract and its error type.

A backend stores two append-only sequences, entries and seals, and hands them back as they are
stored, including anything malformed (reported as :class:`ReadProblem` data so that
verification can point at it instead of crashing). Two backends ship: DuckDB tables
(:mod:`.duckdb_backend`, inside the embedded store) and JSON-lines files
(:mod:`.jsonl_backend`, a ledger that lives apart from the store).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mirrorguard.errors import StoreError

if TYPE_CHECKING:
    import pyarrow as pa

    from mirrorguard.guard.ledger.seal import Seal


class LedgerError(StoreError):
    """The ledger could not be written or read (not a tampering finding: those are data)."""


@dataclass(frozen=True)
class ReadProblem:
    """A stored record that could not be decoded.

    ``position`` is the record's 0-based place in storage order (a line number for JSON lines)
    and ``seq_hint`` the seq it most likely had (its neighbours'), for locating it.
    """

    what: str  # "entry" or "seal"
    position: int
    seq_hint: int | None
    message: str


class LedgerBackend(Protocol):
    """Append-only storage for entries and seals."""

    location: str

    def ledger_id(self) -> str:
        """The ledger's id (created on first use when writable)."""
        ...

    def append_entries(self, table: pa.Table, seal: Seal | None = None) -> None:
        """Durably append entry rows (``encoding.ENTRY_SCHEMA``) and, when given, the seal
        over them, in one transaction where the backend has transactions."""
        ...

    def read_entries(
        self, first_seq: int | None = None, last_seq: int | None = None
    ) -> tuple[pa.Table, list[ReadProblem]]:
        """Entries with ``first_seq <= seq <= last_seq`` in storage order, plus read problems."""
        ...

    def read_seals(self) -> tuple[list[Seal], list[ReadProblem]]:
        """All seals in storage order, plus read problems."""
        ...

    def close(self) -> None:
        """Release files or connections."""
        ...
