"""Reproducible tamperings of a stored ledger, for testing that verification catches them.

Each tampering returns a :class:`Tampering` saying where the ledger first differs from the
original (``first_seq``, the answer a verifier should give) and which seal ranges it touched.
:class:`DuckDBTamperer` edits the DuckDB tables with SQL (wrap it in a transaction and roll back
to undo); :class:`JsonlTamperer` edits the files' bytes and restores them.

Kinds: ``byte_flip`` (one bit of one stored value or byte), ``edit_field`` (a realistic edit of
payload/actor/kind/time), ``edit_field_rehash`` (the same with a recomputed entry hash),
``delete``, ``insert`` (a well-formed forged entry linked to its predecessor), ``reorder``
(two entries swap places), ``truncate`` (everything from a point on removed) and
``foreign_resign`` (a range rewritten and its seal re-signed with an attacker's key, either
under the attacker's key id or spoofing the trusted one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mirrorguard.guard.keys import Signer
from mirrorguard.guard.ledger import merkle
from mirrorguard.guard.ledger.duckdb_backend import DuckDBLedgerBackend
from mirrorguard.guard.ledger.encoding import (
    ENTRY_FIELDS,
    Entry,
    canonical_payload,
    entries_to_table,
    format_time,
    genesis_entry_hash,
    hash_fields,
    table_to_entries,
)
from mirrorguard.guard.ledger.report import VerifyReport
from mirrorguard.guard.ledger.seal import Seal, seal_message

DUCKDB_KINDS = (
    "byte_flip", "edit_field", "edit_field_rehash", "delete", "insert", "reorder", "truncate",
    "foreign_resign",
)
JSONL_KINDS = ("byte_flip", "seal_byte_flip", "delete", "insert", "reorder", "truncate")


@dataclass(frozen=True)
class Tampering:
    """What was done. ``first_seq``: earliest sequence position that now differs;
    ``seal_no``: the seal attacked (seal-level tamperings); ``span``: seq range touched
    (``hi=None``: to the end)."""

    kind: str
    first_seq: int | None
    detail: str
    span: tuple[int, int | None]
    seal_no: int | None = None
    also: tuple[int, ...] = ()  # equally right answers (see DuckDBTamperer._byte_flip)


def flip_bit(data: bytes, rng: np.random.Generator, ascii_only: bool) -> tuple[bytes, int]:
    """Flip one bit of one byte; with ``ascii_only`` the result stays non-NUL ASCII."""
    buf = bytearray(data)
    positions = [i for i, b in enumerate(buf) if b < 128] if ascii_only else range(len(buf))
    pos = int(rng.choice(positions))
    while True:
        bit = int(rng.integers(0, 7 if ascii_only else 8))
        new = buf[pos] ^ (1 << bit)
        if not ascii_only or new != 0:
            break
    buf[pos] = new
    return bytes(buf), pos


def edit_value(entry: Entry, field: str, rng: np.random.Generator) -> str:
    """A plausible forged value for one field (never equal to the original)."""
    if field == "actor":
        return "analyst-mallory" if entry.actor != "analyst-mallory" else "automation"
    if field == "kind":
        return "verdict" if entry.kind != "verdict" else "action"
    if field == "time":
        t = datetime.strptime(entry.time, "%Y-%m-%dT%H:%M:%S.%f%z")
        return format_time(t + timedelta(seconds=int(rng.integers(1, 3600))))
    payload = orjson.loads(entry.payload)
    if isinstance(payload, dict) and payload:
        key = str(rng.choice(sorted(payload)))
        payload[key] = _forge(payload[key])
    else:
        payload = {"forged": payload}
    return canonical_payload(payload)


def _forge(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return "false_positive" if value != "false_positive" else "true_positive"
    if isinstance(value, list):
        return value[:-1] if value else ["forged"]
    return "forged"


def rehash(entry: Entry, **changes: Any) -> Entry:
    """An entry with some fields changed and a consistent ``entry_hash``."""
    e = replace(entry, **changes)
    return replace(e, entry_hash=hash_fields(e.seq, e.time, e.kind, e.actor, e.payload,
                                             e.prev_hash))


def forged_seal(seal: Seal, foreign: Signer, *, spoof_key_id: bool, **changes: Any) -> Seal:
    """``seal`` with ``changes``, signed by ``foreign`` (optionally claiming the old key id)."""
    unsigned = replace(seal, key_id=seal.key_id if spoof_key_id else foreign.key_id,
                       signature="", **changes)
    return replace(unsigned, signature=foreign.sign(seal_message(unsigned)).hex())


class DuckDBTamperer:
    """Applies tamperings to a DuckDB ledger with SQL (caller handles BEGIN/ROLLBACK)."""

    def __init__(self, backend: DuckDBLedgerBackend, seals: list[Seal], foreign: Signer,
                 rng: np.random.Generator) -> None:
        self.b = backend
        self.con = backend.con
        self.seals = seals
        self.n = seals[-1].last_seq + 1
        self.foreign = foreign
        self.rng = rng

    def _entry(self, seq: int) -> Entry:
        table, _ = self.b.read_entries(seq, seq)
        return table_to_entries(table)[0]

    def _set(self, seq: int, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        self.con.execute(f"UPDATE ledger_entries SET {cols} WHERE seq = ?",  # noqa: S608
                         [*values.values(), seq])

    def _seq(self, lo: int = 0, hi: int | None = None) -> int:
        return int(self.rng.integers(lo, self.n if hi is None else hi))

    def apply(self, kind: str) -> Tampering:
        """Apply one tampering of ``kind`` at a random place."""
        fn = getattr(self, f"_{kind}", None)
        if kind not in DUCKDB_KINDS or fn is None:
            raise ValueError(f"unknown tampering {kind!r}")
        result: Tampering = fn()
        return result

    def _byte_flip(self) -> Tampering:
        seq = self._seq()
        field = str(self.rng.choice(ENTRY_FIELDS))
        if field == "seq":
            new_seq = seq ^ (1 << int(self.rng.integers(0, 40)))
            self.con.execute("UPDATE ledger_entries SET seq = ? WHERE seq = ?", [new_seq, seq])
            # rows are read in seq order, so two rows now claim new_seq: either the forged
            # claimant (new_seq) or the vacated place (seq) is a right first answer
            return Tampering("byte_flip", min(seq, new_seq), f"seq {seq} -> {new_seq}",
                             (min(seq, new_seq), max(seq, new_seq)), also=(seq,))
        old = getattr(self._entry(seq), field)
        new, pos = flip_bit(old.encode(), self.rng, ascii_only=True)
        self._set(seq, **{field: new.decode()})
        return Tampering("byte_flip", seq, f"{field} byte {pos} of seq {seq}", (seq, seq))

    def _edit(self, rehashed: bool) -> Tampering:
        seq = self._seq()
        e = self._entry(seq)
        field = str(self.rng.choice(["payload", "payload", "actor", "kind", "time"]))
        value = edit_value(e, field, self.rng)
        new_hash = rehash(e, **{field: value}).entry_hash if rehashed else e.entry_hash
        self._set(seq, **{field: value, "entry_hash": new_hash})
        kind = "edit_field_rehash" if rehashed else "edit_field"
        return Tampering(kind, seq, f"{field} of seq {seq}", (seq, seq))

    def _edit_field(self) -> Tampering:
        return self._edit(False)

    def _edit_field_rehash(self) -> Tampering:
        return self._edit(True)

    def _delete(self) -> Tampering:
        seq = self._seq()
        self.con.execute("DELETE FROM ledger_entries WHERE seq = ?", [seq])
        return Tampering("delete", seq, f"deleted seq {seq}", (seq, seq))

    def _insert(self) -> Tampering:
        seq = self._seq()
        victim = self._entry(seq)
        prev = self._entry(seq - 1).entry_hash if seq else genesis_entry_hash(self.b.ledger_id())
        forged = rehash(victim, prev_hash=prev, actor="analyst-mallory",
                        payload=canonical_payload({"forged": True, "label": "false_positive"}))
        self.con.register("_mg_forged", entries_to_table([forged]))
        self.con.execute("INSERT INTO ledger_entries SELECT * FROM _mg_forged")
        self.con.unregister("_mg_forged")
        return Tampering("insert", seq, f"forged entry claiming seq {seq}", (seq, seq))

    def _reorder(self) -> Tampering:
        i = self._seq(0, self.n - 1)
        j = min(self.n - 1, i + int(self.rng.integers(1, 100)))
        self.con.execute(
            "UPDATE ledger_entries SET seq = CASE WHEN seq = ? THEN ? ELSE ? END "
            "WHERE seq IN (?, ?)", [i, j, i, i, j])
        return Tampering("reorder", i, f"swapped seq {i} and {j}", (i, j))

    def _truncate(self) -> Tampering:
        seq = self._seq(1)
        self.con.execute("DELETE FROM ledger_entries WHERE seq >= ?", [seq])
        return Tampering("truncate", seq, f"removed seq {seq}..", (seq, None))

    def _foreign_resign(self) -> Tampering:
        k = int(self.rng.integers(0, len(self.seals)))
        seal = self.seals[k]
        j = self._seq(seal.first_seq, seal.last_seq + 1)
        table, _ = self.b.read_entries(seal.first_seq, seal.last_seq)
        entries = table_to_entries(table)
        idx = j - seal.first_seq
        entries[idx] = rehash(entries[idx], payload=edit_value(entries[idx], "payload", self.rng))
        for i in range(idx + 1, len(entries)):
            entries[i] = rehash(entries[i], prev_hash=entries[i - 1].entry_hash)
        forged = entries_to_table(entries[idx:])
        self.con.register("_mg_forged", forged)
        self.con.execute(
            "UPDATE ledger_entries SET payload = f.payload, prev_hash = f.prev_hash, "
            "entry_hash = f.entry_hash FROM _mg_forged f WHERE ledger_entries.seq = f.seq")
        self.con.unregister("_mg_forged")
        spoof = bool(self.rng.integers(0, 2))
        root = merkle.root([bytes.fromhex(e.entry_hash) for e in entries]).hex()
        new = forged_seal(seal, self.foreign, spoof_key_id=spoof, root=root,
                          last_hash=entries[-1].entry_hash)
        cols = ", ".join(f"{c} = ?" for c in ("root", "last_hash", "key_id", "signature"))
        self.con.execute(f"UPDATE ledger_seals SET {cols} WHERE seal_no = ?",  # noqa: S608
                         [new.root, new.last_hash, new.key_id, new.signature, k])
        how = "spoofing the trusted key id" if spoof else "under its own key id"
        return Tampering("foreign_resign", j, f"seal {k} re-signed {how} after editing seq {j}",
                         (seal.first_seq, seal.last_seq), seal_no=k)


class JsonlTamperer:
    """Edits a JSON-lines ledger's files; :meth:`restore` puts the original bytes back."""

    def __init__(self, entries_file: Path, seals_file: Path, rng: np.random.Generator) -> None:
        self.entries_file, self.seals_file = entries_file, seals_file
        self.entries = entries_file.read_bytes()
        self.seals = seals_file.read_bytes()
        self.lines = self.entries.split(b"\n")[:-1]
        self.rng = rng

    def restore(self) -> None:
        self.entries_file.write_bytes(self.entries)
        self.seals_file.write_bytes(self.seals)

    def apply(self, kind: str) -> Tampering:
        fn = getattr(self, f"_{kind}", None)
        if kind not in JSONL_KINDS or fn is None:
            raise ValueError(f"unknown tampering {kind!r}")
        result: Tampering = fn()
        return result

    def _write(self, lines: list[bytes]) -> None:
        self.entries_file.write_bytes(b"".join(line + b"\n" for line in lines))

    def _line(self, lo: int = 0) -> int:
        return int(self.rng.integers(lo, len(self.lines)))

    def _byte_flip(self) -> Tampering:
        data, pos = flip_bit(self.entries, self.rng, ascii_only=False)
        self.entries_file.write_bytes(data)
        line = self.entries.count(b"\n", 0, pos)
        return Tampering("byte_flip", line, f"bit flip at byte {pos} (line {line + 1})",
                         (line, line))

    def _seal_byte_flip(self) -> Tampering:
        data, pos = flip_bit(self.seals, self.rng, ascii_only=False)
        self.seals_file.write_bytes(data)
        k = self.seals.count(b"\n", 0, pos)
        return Tampering("seal_byte_flip", None, f"bit flip in seal line {k + 1}", (0, None),
                         seal_no=k)

    def _delete(self) -> Tampering:
        i = self._line()
        self._write(self.lines[:i] + self.lines[i + 1 :])
        return Tampering("delete", i, f"deleted line {i + 1}", (i, i))

    def _insert(self) -> Tampering:
        i = self._line()
        victim = Entry(**orjson.loads(self.lines[i]))
        prev = orjson.loads(self.lines[i - 1])["entry_hash"] if i else victim.prev_hash
        forged = rehash(victim, prev_hash=prev, actor="analyst-mallory")
        self._write([*self.lines[:i], orjson.dumps(forged.to_dict()), *self.lines[i:]])
        return Tampering("insert", i, f"forged line before line {i + 1}", (i, i))

    def _reorder(self) -> Tampering:
        i = int(self.rng.integers(0, len(self.lines) - 1))
        j = min(len(self.lines) - 1, i + int(self.rng.integers(1, 100)))
        lines = list(self.lines)
        lines[i], lines[j] = lines[j], lines[i]
        self._write(lines)
        return Tampering("reorder", i, f"swapped lines {i + 1} and {j + 1}", (i, j))

    def _truncate(self) -> Tampering:
        cut = int(self.rng.integers(len(self.lines[0]) + 1, len(self.entries) - 1))
        self.entries_file.write_bytes(self.entries[:cut])
        line = self.entries.count(b"\n", 0, cut)
        if self.entries[cut] == ord("\n"):
            line += 1  # only the newline of a complete line was cut: the next line is missing
        return Tampering("truncate", line, f"file cut at byte {cut}", (line, None))


def is_located(report: VerifyReport, t: Tampering) -> bool:
    """Did verification name the right place?

    Entry-level tamperings: ``first_bad_seq`` equals the first position that differs. A seal
    re-signed over a rewritten range: the seal is named and the first bad seq lies in its range
    (which entry of a re-hashed range was edited first is not recoverable from hashes). A
    seal record's byte flip: the seal is named.
    """
    if t.kind == "seal_byte_flip":
        return report.first_bad_seal == t.seal_no
    if t.kind == "foreign_resign":
        lo, hi = t.span
        bad = report.first_bad_seq
        return (report.first_bad_seal == t.seal_no and bad is not None
                and lo <= bad <= (hi if hi is not None else bad))
    return report.first_bad_seq == t.first_seq or report.first_bad_seq in t.also
