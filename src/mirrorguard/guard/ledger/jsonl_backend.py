"""A ledger that lives apart from the store: a directory of append-only JSON-lines files.

Layout of ``<dir>/``:

* ``meta.json`` — ``{"format": "mirrorguard-ledger-jsonl/1", "ledger_id": "..."}``
* ``entries.jsonl`` — one entry per line: ``seq, time, kind, actor, payload, prev_hash,
  entry_hash`` (``payload`` is the canonical JSON text as a string, hashed exactly as stored)
* ``seals.jsonl`` — one seal per line (:class:`~mirrorguard.guard.ledger.seal.Seal` fields)

Lines are decoded strictly (exact fields, exact types; msgspec); a line that does not decode is
reported as a :class:`ReadProblem` with its line number, never skipped silently.

>>> import tempfile, pathlib
>>> b = JsonlLedgerBackend(pathlib.Path(tempfile.mkdtemp()) / "ledger")
>>> b.read_entries()[0].num_rows
0
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from mirrorguard.guard.ledger.base import LedgerError, ReadProblem
from mirrorguard.guard.ledger.encoding import ENTRY_FIELDS, ENTRY_SCHEMA
from mirrorguard.guard.ledger.seal import Seal

FORMAT = "mirrorguard-ledger-jsonl/1"


class _Row(msgspec.Struct, forbid_unknown_fields=True):
    seq: int
    time: str
    kind: str
    actor: str
    payload: str
    prev_hash: str
    entry_hash: str


_ROW = msgspec.json.Decoder(_Row)


class JsonlLedgerBackend:
    """Ledger storage as JSON-lines files in a directory (created when writable)."""

    def __init__(self, path: Path | str, *, read_only: bool = False, fsync: bool = True) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.read_only = read_only
        self.fsync = fsync
        self.entries_file = self.path / "entries.jsonl"
        self.seals_file = self.path / "seals.jsonl"
        self._meta = self.path / "meta.json"
        if not read_only:
            self.path.mkdir(parents=True, exist_ok=True)
            for f in (self.entries_file, self.seals_file):
                f.touch(exist_ok=True)
        elif not self._meta.exists():
            raise LedgerError("not a ledger directory (no meta.json)", file=self.location)
        self._id: str | None = None

    def ledger_id(self) -> str:
        if self._id is None:
            self._id = self._load_or_create_id()
        return self._id

    def _load_or_create_id(self) -> str:
        if self._meta.exists():
            try:
                meta = json.loads(self._meta.read_text(encoding="utf-8"))
                if meta.get("format") != FORMAT or not isinstance(meta.get("ledger_id"), str):
                    raise ValueError("unknown format")
            except (ValueError, OSError, AttributeError) as exc:
                raise LedgerError(f"bad meta.json: {exc}", file=str(self._meta)) from exc
            return str(meta["ledger_id"])
        if self.read_only:
            raise LedgerError("ledger has no meta.json", file=self.location)
        new_id = uuid.uuid4().hex
        self._meta.write_text(json.dumps({"format": FORMAT, "ledger_id": new_id}) + "\n")
        return new_id

    def _append_lines(self, file: Path, lines: list[bytes]) -> None:
        try:
            with file.open("ab") as fh:
                fh.write(b"".join(lines))
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
        except OSError as exc:
            raise LedgerError(f"cannot append: {exc.strerror}", file=str(file)) from exc

    def append_entries(self, table: pa.Table, seal: Seal | None = None) -> None:
        """Entries first, then the seal: a crash in between leaves them unsealed, not lost."""
        if table.num_rows:
            rows = table.select(list(ENTRY_FIELDS)).to_pylist()
            self._append_lines(self.entries_file, [orjson.dumps(r) + b"\n" for r in rows])
        if seal is not None:
            self._append_lines(self.seals_file, [orjson.dumps(seal.to_dict()) + b"\n"])

    def _read(self, file: Path) -> bytes:
        try:
            return file.read_bytes()
        except OSError as exc:
            raise LedgerError(f"cannot read: {exc.strerror}", file=str(file)) from exc

    def read_entries(
        self, first_seq: int | None = None, last_seq: int | None = None
    ) -> tuple[pa.Table, list[ReadProblem]]:
        data = self._read(self.entries_file)
        try:
            rows = _ROW.decode_lines(data)
            problems: list[ReadProblem] = []
        except (msgspec.DecodeError, UnicodeDecodeError):
            rows, problems = self._decode_line_by_line(data)
        cols = {name: [getattr(r, name) for r in rows] for name in ENTRY_FIELDS}
        table = pa.table(cols, schema=ENTRY_SCHEMA)
        if first_seq is not None or last_seq is not None:
            lo = first_seq if first_seq is not None else -(2**63)
            hi = last_seq if last_seq is not None else 2**63 - 1
            seq = table["seq"]
            table = table.filter(pc.and_(pc.greater_equal(seq, lo), pc.less_equal(seq, hi)))
        return table, problems

    def _decode_line_by_line(self, data: bytes) -> tuple[list[_Row], list[ReadProblem]]:
        rows: list[_Row] = []
        problems: list[ReadProblem] = []
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for pos, line in enumerate(lines):
            try:
                rows.append(_ROW.decode(line))
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                hint = rows[-1].seq + 1 if rows else 0
                problems.append(ReadProblem("entry", pos, hint, f"line {pos + 1}: {exc}"))
        return rows, problems

    def read_seals(self) -> tuple[list[Seal], list[ReadProblem]]:
        seals: list[Seal] = []
        problems: list[ReadProblem] = []
        for pos, line in enumerate(self._read(self.seals_file).splitlines()):
            try:
                seals.append(Seal.from_dict(orjson.loads(line)))
            except (ValueError, LedgerError) as exc:
                problems.append(ReadProblem("seal", pos, None, f"line {pos + 1}: {exc}"))
        return seals, problems

    def close(self) -> None:
        """Nothing is held open between calls."""
