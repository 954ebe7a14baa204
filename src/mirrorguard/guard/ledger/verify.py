"""Verify a ledger: recompute every entry hash, the chain, every seal's Merkle root and
signature, and point at the first bad entry.

Entries are checked column-wise: canonical bytes are built by Arrow for the whole window, the
only per-entry Python work is one ``hashlib.sha256`` call, and hashes, links and sequence numbers
are compared as NumPy arrays. Seals are few and checked one by one.

Blame rules (what ``seq`` a finding names):

* an entry whose stored hash differs from its recomputed hash is itself bad;
* a broken link between ``p-1`` and ``p`` (``prev_hash[p]`` is not ``entry_hash[p-1]``) blames
  ``p-1`` — its hash is not what its successor committed to — unless ``p`` is also unlinked from
  ``p+1``, in which case ``p`` was rewritten (prev and hash both changed) and is blamed;
* a sequence jump names the first missing number, a repeat or step back names the repeated one;
* a seal whose range reaches past the stored entries names the first missing entry.

``from_seal``/``to_seal`` restrict the entry checks to the ranges of those seals (positions in
the seal list); all seals' chain and signatures are always checked.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mirrorguard.guard.keys import Verifier
from mirrorguard.guard.ledger import merkle
from mirrorguard.guard.ledger.base import LedgerBackend, ReadProblem
from mirrorguard.guard.ledger.encoding import genesis_entry_hash, hash_column
from mirrorguard.guard.ledger.report import Finding, Problem, VerifyReport
from mirrorguard.guard.ledger.seal import (
    Seal,
    genesis_seal_hash,
    seal_hash,
    signature_problem,
    trusted_keys,
)

BoolArray = npt.NDArray[np.bool_]
_ZERO = "0" * 64


@dataclass
class EntryWindow:
    """Entries under check, as arrays (hashes as ``(n, 32)`` uint8 rows)."""

    seq: npt.NDArray[np.int64]
    place: npt.NDArray[np.int64]  # the seq a row stands for (see _places)
    digests: list[bytes]
    computed: npt.NDArray[np.uint8]
    stored: npt.NDArray[np.uint8]
    start: int

    @property
    def contiguous(self) -> bool:
        return bool(np.array_equal(self.seq, self.start + np.arange(len(self.seq))))


_HEXVAL = np.full(256, 255, dtype=np.uint8)
_HEXVAL[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def rows_differ(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> BoolArray:
    """Row-wise inequality of two ``(n, 32)`` hash arrays."""
    out: BoolArray = (a.view(np.uint64) != b.view(np.uint64)).any(axis=1)
    return out


def _hex_column(
    table: pa.Table, name: str, cap: int, out: list[Finding], place: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint8]:
    """A lower-case hex hash column decoded to ``(n, 32)`` bytes, vectorised.

    Values that are not exactly 64 lower-case hex digits become zeros and findings (an
    upper-cased digit is a one-bit flip and must not decode to the same hash).
    """
    n = table.num_rows
    if n == 0:
        return np.zeros((0, 32), dtype=np.uint8)
    col = table[name]
    good_len = pc.equal(pc.binary_length(col), 64)
    arr = pc.if_else(pc.fill_null(good_len, False), col, pa.scalar(_ZERO)).combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    nib = _HEXVAL[data.reshape(n, 64)]
    bad_rows = (nib == 255).any(axis=1) | ~good_len.to_numpy(zero_copy_only=False)
    if bad_rows.any():
        for i in np.flatnonzero(bad_rows)[:cap]:
            out.append(Finding(Problem.MALFORMED, "entry", int(place[i]), f"{name} is not hex"))
        nib[bad_rows] = 0
    raw: npt.NDArray[np.uint8] = np.ascontiguousarray((nib[:, 0::2] << 4) | nib[:, 1::2])
    return raw


def _places(
    seq: npt.NDArray[np.int64], start: int
) -> tuple[npt.NDArray[np.int64], BoolArray, npt.NDArray[np.int64]]:
    """Where each row sits: its seq, unless it is a lone outlier between two rows that
    are consecutive around it (its own seq field was altered), then the seq of its place."""
    before = np.concatenate([np.array([start - 1], dtype=np.int64), seq[:-1]])
    fits_next = np.zeros(len(seq), dtype=bool)
    fits_next[:-1] = seq[1:] == before[:-1] + 2
    outlier: BoolArray = (seq != before + 1) & fits_next
    place = np.where(outlier, before + 1, seq)
    return place, outlier, before


def _seq_findings(
    seq: npt.NDArray[np.int64], outlier: BoolArray, before: npt.NDArray[np.int64], cap: int
) -> list[Finding]:
    out: list[Finding] = []
    for p in np.flatnonzero(outlier)[:cap]:
        out.append(Finding(Problem.SEQ_OUT_OF_PLACE, "entry", int(before[p] + 1),
                           f"the entry in the place of seq {before[p] + 1} claims {seq[p]}"))
    after_outlier = np.concatenate([np.array([False]), outlier[:-1]])
    jumps = (seq != before + 1) & ~outlier & ~after_outlier
    for p in np.flatnonzero(jumps)[:cap]:
        b, found = int(before[p]), int(seq[p])
        if found > b + 1:
            out.append(Finding(Problem.SEQ_GAP, "entry", b + 1, f"seq jumps from {b} to {found}"))
        else:
            out.append(Finding(Problem.SEQ_OUT_OF_PLACE, "entry", found,
                               f"seq {found} follows {b}"))
    return out


def _link_findings(
    w: EntryWindow, prev: npt.NDArray[np.uint8], anchor: bytes, hash_bad: BoolArray, cap: int,
    anchor_seq: int | None,
) -> list[Finding]:
    head = np.frombuffer(anchor, dtype=np.uint8).reshape(1, 32)
    expected = np.concatenate([head, w.stored])[: len(prev)]
    # a link is only meaningful between consecutive sequence numbers; jumps are seq findings
    steps = np.diff(w.seq, prepend=w.start - 1) == 1
    raw = rows_differ(prev, expected) & steps
    link_bad = raw & ~hash_bad
    nxt = np.concatenate([raw[1:], np.array([False])])
    out: list[Finding] = []
    for p in np.flatnonzero(link_bad)[:cap]:
        if nxt[p] or (p == 0 and anchor_seq is None):
            blamed = int(w.place[p])
        elif p:
            blamed = int(w.place[p - 1])
        else:
            blamed = int(anchor_seq or 0)
        out.append(Finding(Problem.BROKEN_LINK, "entry", blamed,
                           f"entry at seq {int(w.place[p])} does not link to its predecessor"))
    return out


def _fill_nulls(table: pa.Table, cap: int, out: list[Finding]) -> pa.Table:
    """Nulls (possible only if someone dropped the NOT NULL constraints) become findings."""
    for name in table.column_names:
        col = table[name]
        if not col.null_count:
            continue
        seqs = table["seq"].to_pylist()
        for i in np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[:cap]:
            out.append(Finding(Problem.MALFORMED, "entry", seqs[i], f"{name} is null"))
        fill = pa.scalar(-1) if name == "seq" else pa.scalar(_ZERO if "hash" in name else "")
        table = table.set_column(table.schema.get_field_index(name), name, pc.fill_null(col, fill))
    return table


def check_entries(
    table: pa.Table, start: int, anchor_hex: str, cap: int, anchor_seq: int | None = None
) -> tuple[EntryWindow, list[Finding]]:
    """Hash, link and sequence checks of entries starting at ``start`` after ``anchor_hex``.

    ``anchor_hex`` is trusted (genesis or a seal's signed ``last_hash``) when ``anchor_seq`` is
    None; otherwise it is the stored hash of entry ``anchor_seq`` read just before, which is
    blamed for a broken link as any predecessor would be.
    """
    out: list[Finding] = []
    table = _fill_nulls(table, cap, out)
    seq = table["seq"].to_numpy()
    place, outlier, before = _places(seq, start)
    stored = _hex_column(table, "entry_hash", cap, out, place)
    prev = _hex_column(table, "prev_hash", cap, out, place)
    digests = hash_column(table)
    computed = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 32)
    w = EntryWindow(seq, place, digests, computed, stored, start)
    hash_bad = rows_differ(computed, stored)
    for p in np.flatnonzero(hash_bad)[:cap]:
        out.append(Finding(Problem.HASH_MISMATCH, "entry", int(place[p]),
                           "stored entry_hash differs from the recomputed hash"))
    out += _link_findings(w, prev, bytes.fromhex(anchor_hex), hash_bad, cap, anchor_seq)
    out += _seq_findings(seq, outlier, before, cap)
    return w, out


def _check_seal_chain(seals: list[Seal], ledger_id: str, keys: Sequence[Verifier]) -> list[Finding]:
    trusted = trusted_keys(keys)
    out: list[Finding] = []
    prev: Seal | None = None
    for s in seals:
        want_no = prev.seal_no + 1 if prev else 0

        def add(problem: Problem, detail: str, s: Seal = s, k: int = want_no) -> None:
            out.append(Finding(problem, "seal", s.first_seq, detail, seal_no=k))

        if s.ledger_id != ledger_id:
            add(Problem.SEAL_FOREIGN_LEDGER, f"seal belongs to ledger {s.ledger_id!r}")
        if s.seal_no != want_no:
            add(Problem.SEAL_SEQUENCE, f"seal number {s.seal_no}, expected {want_no}")
        want_first = prev.last_seq + 1 if prev else 0
        if s.first_seq != want_first or s.last_seq < s.first_seq:
            add(Problem.SEAL_RANGE,
                f"covers {s.first_seq}..{s.last_seq}, expected from {want_first}")
        want_link = seal_hash(prev) if prev else genesis_seal_hash(ledger_id)
        if s.prev_seal_hash != want_link:
            add(Problem.SEAL_BROKEN_LINK, "prev_seal_hash does not match the previous seal")
        why = signature_problem(s, trusted)
        if why == "unknown_signer":
            add(Problem.SEAL_UNKNOWN_SIGNER, f"signed by untrusted key {s.key_id[:16]}…")
        elif why == "bad_signature":
            add(Problem.SEAL_BAD_SIGNATURE, "signature does not verify")
        prev = s
    return out


def _seal_leaves(w: EntryWindow, s: Seal, contiguous: bool) -> tuple[list[bytes], int | None]:
    """Leaf hashes of the rows a seal covers, and the row index of the last one."""
    if contiguous:
        lo = max(0, s.first_seq - w.start)
        hi = max(lo, min(len(w.seq), s.last_seq - w.start + 1))
        return w.digests[lo:hi], (hi - 1 if hi > lo else None)
    rows = np.flatnonzero((w.seq >= s.first_seq) & (w.seq <= s.last_seq))
    return [w.digests[i] for i in rows], (int(rows[-1]) if len(rows) else None)


def _check_seal_roots(w: EntryWindow, seals: list[Seal], offset: int) -> list[Finding]:
    out: list[Finding] = []
    present_max = int(w.seq.max()) if len(w.seq) else w.start - 1
    contiguous = w.contiguous
    for k, s in enumerate(seals, start=offset):
        leaves, last_row = _seal_leaves(w, s, contiguous)
        if s.last_seq > present_max:
            first_missing = max(present_max + 1, s.first_seq)
            out.append(Finding(Problem.MISSING_SEALED, "entry", first_missing,
                               f"seal {k} covers up to {s.last_seq}; entries end at {present_max}",
                               seal_no=k))
        if merkle.root(leaves).hex() != s.root:
            out.append(Finding(Problem.SEAL_ROOT_MISMATCH, "seal", s.first_seq,
                               f"Merkle root over {len(leaves)} entries differs", seal_no=k))
        if (
            last_row is not None
            and w.seq[last_row] == s.last_seq
            and w.digests[last_row].hex() != s.last_hash
        ):
            out.append(Finding(Problem.SEAL_LAST_HASH, "entry", s.last_seq,
                               "last entry differs from the hash its seal signed", seal_no=k))
    return out


def _problem_findings(problems: list[ReadProblem]) -> list[Finding]:
    return [
        Finding(Problem.MALFORMED, "entry", p.seq_hint, p.message)
        if p.what == "entry"
        else Finding(Problem.SEAL_MALFORMED, "seal", p.seq_hint, p.message, seal_no=p.position)
        for p in problems
    ]


@dataclass(frozen=True)
class _Chunk:
    """One read: seqs ``first..last`` (None: open), expected to start at ``start``."""

    first: int | None
    last: int | None
    start: int
    seals: list[Seal]
    offset: int


def _plan(seals: list[Seal], lo: int, hi: int, open_end: bool, size: int) -> list[_Chunk]:
    """Group the window's seals into reads of about ``size`` entries, on seal boundaries."""
    if hi < lo:
        first = seals[lo].first_seq if lo < len(seals) else (seals[-1].last_seq + 1 if lo else 0)
        return [_Chunk(None if lo == 0 else first, None, first, [], lo)]
    groups: list[tuple[int, int]] = []
    a = lo
    while a <= hi:
        b, total = a, seals[a].size
        while b < hi and total + seals[b + 1].size <= size:
            b += 1
            total += seals[b].size
        groups.append((a, b))
        a = b + 1
    chunks = []
    for i, (a, b) in enumerate(groups):
        read_from = None if i == 0 and lo == 0 else seals[a].first_seq
        if i + 1 < len(groups):
            last: int | None = seals[groups[i + 1][0]].first_seq - 1
        else:
            last = None if open_end else seals[b].last_seq
        start = 0 if read_from is None else seals[a].first_seq
        chunks.append(_Chunk(read_from, last, start, seals[a : b + 1], a))
    return chunks


def verify_ledger(
    backend: LedgerBackend,
    keys: Sequence[Verifier],
    *,
    from_seal: int | None = None,
    to_seal: int | None = None,
    max_findings: int = 100,
    chunk_entries: int = 250_000,
) -> VerifyReport:
    """Check a ledger (or the ranges of seals ``from_seal..to_seal``) against trusted keys.

    Backends with ranged reads (DuckDB) are checked in chunks of about ``chunk_entries``
    entries cut at seal boundaries, so memory stays bounded however long the ledger is.
    """
    t0 = time.perf_counter()
    ledger_id = backend.ledger_id()
    seals, seal_problems = backend.read_seals()
    findings = _problem_findings(seal_problems) + _check_seal_chain(seals, ledger_id, keys)
    lo = from_seal or 0
    hi = len(seals) - 1 if to_seal is None else min(to_seal, len(seals) - 1)
    size = chunk_entries if getattr(backend, "ranged_reads", False) else 2**62
    plan = _plan(seals, lo, hi, to_seal is None, size)
    anchor = seals[lo - 1].last_hash if 0 < lo <= len(seals) else genesis_entry_hash(ledger_id)
    sealed_through = seals[-1].last_seq if seals else -1
    prev_last: int | None = None
    checked = unsealed = 0
    for c in plan:
        table, problems = backend.read_entries(c.first, c.last)
        start = c.start if prev_last is None else prev_last + 1
        w, found = check_entries(table, start, anchor, max_findings, prev_last)
        findings += found + _problem_findings(problems) + _check_seal_roots(w, c.seals, c.offset)
        if len(w.seq):
            anchor, prev_last = w.stored[-1].tobytes().hex(), int(w.seq[-1])
        checked += len(w.seq)
        unsealed += int((w.seq > sealed_through).sum()) if to_seal is None else 0
    findings.sort(key=lambda f: (f.scope != "entry", f.seq if f.seq is not None else -1))
    return VerifyReport(
        ledger_id=ledger_id, location=backend.location, entries_checked=checked,
        seals_checked=len(seals), window=(plan[0].start, plan[-1].last),
        sealed_through=sealed_through if seals else None, unsealed=unsealed,
        findings=findings[:max_findings], findings_total=len(findings),
        seconds=time.perf_counter() - t0,
    )
