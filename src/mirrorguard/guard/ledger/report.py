"""What verification found: typed findings and a report (data, not exceptions)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal


class Problem(StrEnum):
    """Why an entry or a seal failed verification."""

    MALFORMED = "malformed"  # a stored record does not decode / has a bad field
    SEQ_GAP = "missing_seq"  # a sequence number is missing
    SEQ_OUT_OF_PLACE = "seq_out_of_place"  # duplicated or out-of-order sequence number
    HASH_MISMATCH = "hash_mismatch"  # stored entry_hash differs from the recomputed one
    BROKEN_LINK = "broken_link"  # an entry's hash is not what its successor commits to
    MISSING_SEALED = "missing_sealed_entries"  # a seal covers entries that are gone
    SEAL_MALFORMED = "seal_malformed"
    SEAL_FOREIGN_LEDGER = "seal_foreign_ledger"
    SEAL_SEQUENCE = "seal_sequence"  # seal numbers not consecutive
    SEAL_RANGE = "seal_range"  # seal ranges not contiguous
    SEAL_BROKEN_LINK = "seal_broken_link"
    SEAL_ROOT_MISMATCH = "seal_root_mismatch"
    SEAL_LAST_HASH = "seal_last_hash_mismatch"
    SEAL_BAD_SIGNATURE = "seal_bad_signature"
    SEAL_UNKNOWN_SIGNER = "seal_unknown_signer"


Scope = Literal["entry", "seal"]


@dataclass(frozen=True)
class Finding:
    """One problem. ``seq`` pinpoints the entry (for a seal: the first entry it covers)."""

    problem: Problem
    scope: Scope
    seq: int | None
    detail: str
    seal_no: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["problem"] = self.problem.value
        return d


@dataclass
class VerifyReport:
    """The outcome of :func:`mirrorguard.guard.ledger.verify.verify_ledger`.

    ``first_bad_seq`` is the earliest entry an entry-level finding points at, else the first
    entry of the earliest bad seal. Entries after the last seal are counted in ``unsealed``:
    they are chained but not yet signed, which is normal between seals, not tampering.
    """

    ledger_id: str
    location: str
    entries_checked: int = 0
    seals_checked: int = 0
    window: tuple[int, int | None] = (0, None)
    sealed_through: int | None = None
    unsealed: int = 0
    findings: list[Finding] = field(default_factory=list)
    findings_total: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.findings_total == 0

    @property
    def first_bad_seq(self) -> int | None:
        for scope in ("entry", "seal"):
            seqs = [f.seq for f in self.findings if f.scope == scope and f.seq is not None]
            if seqs:
                return min(seqs)
        return None

    @property
    def first_bad_seal(self) -> int | None:
        nos = [f.seal_no for f in self.findings if f.scope == "seal" and f.seal_no is not None]
        return min(nos) if nos else None

    @property
    def first_finding(self) -> Finding | None:
        """The finding behind ``first_bad_seq``."""
        target = self.first_bad_seq
        order = sorted(self.findings, key=lambda f: (f.scope != "entry", f.seq is None))
        for f in order:
            if f.seq == target:
                return f
        return self.findings[0] if self.findings else None

    def to_dict(self) -> dict[str, Any]:
        first = self.first_finding
        return {
            "ok": self.ok,
            "ledger_id": self.ledger_id,
            "location": self.location,
            "entries_checked": self.entries_checked,
            "seals_checked": self.seals_checked,
            "window": list(self.window),
            "sealed_through": self.sealed_through,
            "unsealed": self.unsealed,
            "first_bad_seq": self.first_bad_seq,
            "first_bad_seal": self.first_bad_seal,
            "first_problem": first.problem.value if first else None,
            "findings_total": self.findings_total,
            "findings": [f.to_dict() for f in self.findings],
            "seconds": round(self.seconds, 4),
        }
