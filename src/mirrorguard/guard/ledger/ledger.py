"""The decision ledger: append-only, hash-chained, sealed with signed Merkle roots.

Each entry carries the hash of the one before it (:mod:`.encoding`); every ``seal_every``
entries, and on demand, the ledger signs the RFC 6962 Merkle root of the entries since the last
seal (:mod:`.seal`). Entries are buffered and written in batches (``flush_every``); closing the
ledger flushes and, when it holds a signing key, seals what is left.

Opening a ledger re-verifies its unsealed tail and refuses to append to one that does not
verify, so a tampered tail is never blessed by a new seal.

>>> from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
>>> from mirrorguard.guard.ledger.duckdb_backend import DuckDBLedgerBackend
>>> priv, pub = generate_keypair()
>>> backend = DuckDBLedgerBackend(":memory:")
>>> ledger = Ledger(backend, signer=Signer(priv), seal_every=3)
>>> for i in range(4):
...     _ = ledger.append("alert", "automation", {"alert_id": i})
>>> ledger.flush()
>>> ledger.verify([Verifier(pub)]).to_dict()["unsealed"]
1
>>> _ = ledger.seal()
>>> ledger.verify([Verifier(pub)]).ok
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from mirrorguard.guard.keys import Signer, Verifier
from mirrorguard.guard.ledger import merkle
from mirrorguard.guard.ledger.base import LedgerBackend, LedgerError
from mirrorguard.guard.ledger.duckdb_backend import DuckDBLedgerBackend
from mirrorguard.guard.ledger.encoding import (
    ENTRY_SCHEMA,
    Entry,
    canonical_column,
    canonical_payload,
    check_name,
    entries_to_table,
    format_time,
    genesis_entry_hash,
    make_entry,
)
from mirrorguard.guard.ledger.jsonl_backend import JsonlLedgerBackend
from mirrorguard.guard.ledger.report import VerifyReport
from mirrorguard.guard.ledger.seal import (
    Seal,
    genesis_seal_hash,
    make_seal,
    seal_hash,
    signature_problem,
    trusted_keys,
)
from mirrorguard.guard.ledger.verify import check_entries, verify_ledger

#: (kind, actor, payload, time or None for "now")
Record = tuple[str, str, Any, datetime | None]


def open_backend(path: Path | str, *, read_only: bool = False) -> LedgerBackend:
    """A JSON-lines ledger for a directory (or a path ending ``.ledger``), else DuckDB."""
    p = Path(path)
    if p.is_dir() or p.suffix == ".ledger":
        return JsonlLedgerBackend(p, read_only=read_only)
    if read_only and not p.exists():
        raise LedgerError("no such ledger", file=str(p))
    return DuckDBLedgerBackend(p, read_only=read_only)


class Ledger:
    """Writes entries and seals to a backend. One writer per ledger at a time."""

    def __init__(
        self,
        backend: LedgerBackend,
        *,
        signer: Signer | None = None,
        seal_every: int | None = 10_000,
        flush_every: int = 1_000,
        seal_on_close: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if seal_every is not None and seal_every < 1:
            raise LedgerError("seal_every must be at least 1 (or None for manual seals)")
        self.backend = backend
        self.signer = signer
        self.seal_every = seal_every
        self.flush_every = max(1, flush_every)
        self.seal_on_close = seal_on_close
        self._clock = clock or (lambda: datetime.now(UTC))
        self.ledger_id = backend.ledger_id()
        self._pending: list[Entry] = []  # single appends, in order
        self._batches: list[pa.Table] = []  # earlier batches, written before _pending
        self._buffered = 0
        self._load_tail()

    def _load_tail(self) -> None:
        seals, problems = self.backend.read_seals()
        if problems:
            raise LedgerError(f"seals do not decode ({problems[0].message})",
                              file=self.backend.location, hint="run `mirrorguard ledger verify`")
        self._last_seal: Seal | None = seals[-1] if seals else None
        if self._last_seal is not None and self.signer is not None:
            self._check_own_seal(self._last_seal)
        start = self._last_seal.last_seq + 1 if self._last_seal else 0
        anchor = self._last_seal.last_hash if self._last_seal else genesis_entry_hash(
            self.ledger_id)
        table, read_problems = self.backend.read_entries(start, None)
        window, findings = check_entries(table, start, anchor, cap=1)
        if read_problems or findings:
            why = read_problems[0].message if read_problems else findings[0].detail
            raise LedgerError(f"unsealed entries do not verify: {why}", file=self.backend.location,
                              hint="run `mirrorguard ledger verify`; refusing to append")
        self._unsealed: list[bytes] = list(window.digests)
        self._next_seq = start + int(table.num_rows)
        self._head = window.digests[-1].hex() if window.digests else anchor

    def _check_own_seal(self, seal: Seal) -> None:
        assert self.signer is not None
        if seal.key_id != self.signer.key_id:
            return  # signed by an earlier key; verify_ledger checks it against trusted keys
        if signature_problem(seal, trusted_keys([Verifier(self.signer.public_key)])):
            raise LedgerError("the last seal does not verify with this ledger's key",
                              file=self.backend.location, hint="run `mirrorguard ledger verify`")

    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def unsealed(self) -> int:
        """Entries written or buffered since the last seal."""
        return len(self._unsealed)

    def append(
        self, kind: str, actor: str, payload: Any, *, time: datetime | None = None
    ) -> Entry:
        """Append one entry (buffered; see ``flush_every``) and return it."""
        entry = make_entry(
            self._next_seq, format_time(time or self._clock()), check_name(kind, "kind"),
            check_name(actor, "actor"), payload, prev_hash=self._head,
        )
        self._pending.append(entry)
        self._buffered += 1
        self._unsealed.append(bytes.fromhex(entry.entry_hash))
        self._head = entry.entry_hash
        self._next_seq += 1
        if self._buffered >= self.flush_every:
            self.flush()
        if self.seal_every and self.signer and len(self._unsealed) >= self.seal_every:
            self.seal()
        return entry

    def append_many(self, records: Iterable[Record]) -> int:
        """Append many ``(kind, actor, payload, time)`` records; returns how many.

        Column-wise: payloads are canonicalised one by one, but the canonical bytes up to the
        previous hash are built by Arrow for the whole batch, leaving one ``sha256`` per entry
        for the chain. Batches are cut at seal boundaries.
        """
        rows = list(records)
        done = 0
        while done < len(rows):
            room = len(rows) - done
            if self.seal_every and self.signer:
                room = min(room, self.seal_every - len(self._unsealed))
            self._append_batch(rows[done : done + room])
            done += room
            if self.seal_every and self.signer and len(self._unsealed) >= self.seal_every:
                self.seal()
            elif self._buffered >= self.flush_every:
                self.flush()
        self.flush()
        return done

    def _append_batch(self, rows: list[Record]) -> None:
        now = self._clock
        cols: dict[str, list[Any]] = {
            "seq": list(range(self._next_seq, self._next_seq + len(rows))),
            "time": [format_time(t or now()) for _, _, _, t in rows],
            "kind": [check_name(k, "kind") for k, _, _, _ in rows],
            "actor": [check_name(a, "actor") for _, a, _, _ in rows],
            "payload": [canonical_payload(p) for _, _, p, _ in rows],
            "prev_hash": [""] * len(rows),
        }
        prefixes = canonical_column(pa.table(cols))
        sha = hashlib.sha256
        prev, prevs, hashes, digests = self._head.encode(), [], [], []
        for prefix in prefixes:
            h = sha(prefix)
            h.update(prev)
            d = h.digest()
            prevs.append(prev.decode())
            prev = d.hex().encode()
            hashes.append(prev.decode())
            digests.append(d)
        cols["prev_hash"], cols["entry_hash"] = prevs, hashes
        self._move_pending()
        self._batches.append(pa.table(cols, schema=ENTRY_SCHEMA))
        self._buffered += len(rows)
        self._unsealed.extend(digests)
        self._next_seq += len(rows)
        if hashes:
            self._head = hashes[-1]

    def _move_pending(self) -> None:
        if self._pending:
            self._batches.append(entries_to_table(self._pending))
            self._pending = []

    def _take_buffer(self) -> pa.Table:
        self._move_pending()
        table = pa.concat_tables(self._batches) if self._batches else entries_to_table([])
        self._batches, self._buffered = [], 0
        return table

    def flush(self) -> None:
        """Write buffered entries to the backend."""
        if self._buffered:
            self.backend.append_entries(self._take_buffer())

    def seal(self) -> Seal | None:
        """Sign a seal over the entries since the last one and write it together with the
        buffered entries (None if there is nothing to seal)."""
        if self.signer is None:
            raise LedgerError("this ledger has no signing key; it cannot seal",
                              hint="open it with signer=Signer(load_private_key('env:...'))")
        if not self._unsealed:
            return None
        prev = self._last_seal
        seal = make_seal(
            self.signer, ledger_id=self.ledger_id,
            seal_no=prev.seal_no + 1 if prev else 0,
            first_seq=self._next_seq - len(self._unsealed), last_seq=self._next_seq - 1,
            root=merkle.root(self._unsealed).hex(), last_hash=self._head,
            prev_seal_hash=seal_hash(prev) if prev else genesis_seal_hash(self.ledger_id),
            time=self._clock(),
        )
        self.backend.append_entries(self._take_buffer(), seal)
        self._last_seal = seal
        self._unsealed = []
        return seal

    def verify(self, keys: Sequence[Verifier], **kwargs: Any) -> VerifyReport:
        """Flush, then :func:`~mirrorguard.guard.ledger.verify.verify_ledger`."""
        self.flush()
        return verify_ledger(self.backend, keys, **kwargs)

    def close(self) -> None:
        """Flush, seal what is left when holding a key (``seal_on_close``), release storage."""
        try:
            self.flush()
            if self.seal_on_close and self.signer is not None:
                self.seal()
        finally:
            self.backend.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
