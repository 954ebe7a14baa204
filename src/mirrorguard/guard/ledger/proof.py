"""Inclusion proofs: show one decision is in the ledger, checkable offline with a public key.

Proof format (JSON object, ``format = "mirrorguard-ledger-proof/1"``)::

    {
      "format": "mirrorguard-ledger-proof/1",
      "entry": {"seq", "time", "kind", "actor", "payload", "prev_hash", "entry_hash"},
      "leaf_index": seq - seal.first_seq,
      "tree_size": seal.last_seq - seal.first_seq + 1,
      "audit_path": ["<hex>", ...],            # RFC 6962 PATH, leaf to root
      "seal": {"ledger_id", "seal_no", "first_seq", "last_seq", "root", "last_hash",
               "prev_seal_hash", "key_id", "time", "signature"}
    }

A checker recomputes the entry hash from the entry's fields (:mod:`.encoding`), folds the audit
path up to the seal's root (RFC 9162 §2.1.3.2) and verifies the seal's Ed25519 signature. It needs
nothing but the proof and the public key; the ledger itself is not consulted.

>>> from mirrorguard.guard.keys import Signer, generate_keypair
>>> from mirrorguard.guard.ledger.duckdb_backend import DuckDBLedgerBackend
>>> from mirrorguard.guard.ledger.ledger import Ledger
>>> priv, pub = generate_keypair()
>>> led = Ledger(DuckDBLedgerBackend(":memory:"), signer=Signer(priv))
>>> e = led.append("verdict", "analyst-7", {"alert_id": "a1", "label": "false_positive"})
>>> _ = led.seal()
>>> verify_proof(export_proof(led.backend, e.seq), pub).ok
True
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mirrorguard.guard.keys import Verifier
from mirrorguard.guard.ledger import merkle
from mirrorguard.guard.ledger.base import LedgerBackend, LedgerError
from mirrorguard.guard.ledger.encoding import (
    ENTRY_FIELDS,
    HEX64,
    Entry,
    entry_hash,
    genesis_entry_hash,
    hash_column,
    table_to_entries,
)
from mirrorguard.guard.ledger.seal import Seal, signature_problem, trusted_keys

PROOF_FORMAT = "mirrorguard-ledger-proof/1"


@dataclass(frozen=True)
class ProofReport:
    """Outcome of :func:`verify_proof`. ``reason`` is ``None`` when the proof holds."""

    ok: bool
    reason: str | None
    seq: int | None = None
    kind: str | None = None
    ledger_id: str | None = None
    seal_no: int | None = None
    key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _covering_seal(seals: list[Seal], seq: int) -> Seal:
    starts = [s.first_seq for s in seals]
    i = bisect.bisect_right(starts, seq) - 1
    if i < 0 or seq > seals[i].last_seq:
        raise LedgerError(f"entry {seq} is not covered by a seal yet",
                          record=str(seq), hint="seal the ledger first")
    return seals[i]


def export_proof(backend: LedgerBackend, seq: int) -> dict[str, Any]:
    """The inclusion proof of entry ``seq`` (a JSON-ready dict).

    Raises :class:`LedgerError` when the entry is not sealed or its sealed range no longer
    matches its seal (run a verify to see where).
    """
    seals, _ = backend.read_seals()
    seal = _covering_seal(seals, seq)
    table, problems = backend.read_entries(seal.first_seq, seal.last_seq)
    leaves = hash_column(table)
    if problems or len(leaves) != seal.size or merkle.root(leaves).hex() != seal.root:
        raise LedgerError(f"the range sealed by seal {seal.seal_no} does not verify",
                          record=str(seq), hint="run `mirrorguard ledger verify`")
    index = seq - seal.first_seq
    entry = table_to_entries(table.slice(index, 1))[0]
    return {
        "format": PROOF_FORMAT,
        "entry": entry.to_dict(),
        "leaf_index": index,
        "tree_size": seal.size,
        "audit_path": [h.hex() for h in merkle.audit_path(leaves, index)],
        "seal": seal.to_dict(),
    }


def _parse(proof: str | bytes | Mapping[str, Any]) -> tuple[Entry, Seal, int, int, list[bytes]]:
    try:
        data = orjson.loads(proof) if isinstance(proof, str | bytes) else dict(proof)
        if data.get("format") != PROOF_FORMAT:
            raise ValueError(f"format is not {PROOF_FORMAT}")
        raw = data["entry"]
        if set(raw) != set(ENTRY_FIELDS):
            raise ValueError("entry does not have exactly the entry fields")
        entry = Entry(**raw)
        if not all(isinstance(v, str) for k, v in raw.items() if k != "seq") or type(
            entry.seq
        ) is not int:
            raise ValueError("entry fields have wrong types")
        path = data["audit_path"]
        if not isinstance(path, list) or not all(isinstance(h, str) and HEX64.match(h)
                                                 for h in path):
            raise ValueError("audit_path must be a list of 64-digit hex hashes")
        index, size = data["leaf_index"], data["tree_size"]
        if type(index) is not int or type(size) is not int:
            raise ValueError("leaf_index and tree_size must be integers")
        return entry, Seal.from_dict(data["seal"]), index, size, [bytes.fromhex(h) for h in path]
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError,
            LedgerError) as exc:
        raise LedgerError(f"not a ledger proof: {exc}") from exc


def verify_proof(
    proof: str | bytes | Mapping[str, Any], public_key: Ed25519PublicKey | Verifier
) -> ProofReport:
    """Check an inclusion proof offline. Malformed input raises :class:`LedgerError`;
    a well-formed proof that does not hold returns ``ok=False`` with the reason."""
    entry, seal, index, size, path = _parse(proof)
    verifier = public_key if isinstance(public_key, Verifier) else Verifier(public_key)
    held = ProofReport(ok=True, reason=None, seq=entry.seq, kind=entry.kind,
                       ledger_id=seal.ledger_id, seal_no=seal.seal_no, key_id=seal.key_id)

    def fail(reason: str) -> ProofReport:
        return replace(held, ok=False, reason=reason)

    if entry_hash(entry) != entry.entry_hash:
        return fail("entry_hash_mismatch")
    if entry.seq == 0 and entry.prev_hash != genesis_entry_hash(seal.ledger_id):
        return fail("genesis_mismatch")
    if index != entry.seq - seal.first_seq or size != seal.size:
        return fail("position_mismatch")
    if not merkle.verify_path(bytes.fromhex(entry.entry_hash), index, size, path,
                              bytes.fromhex(seal.root)):
        return fail("audit_path_mismatch")
    why = signature_problem(seal, trusted_keys([verifier]))
    if why is not None:
        return fail(why)
    return held
