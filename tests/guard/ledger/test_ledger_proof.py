from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tests.guard.ledger.ledger_helpers import records

from mirrorguard.guard.keys import Signer, Verifier
from mirrorguard.guard.ledger import (
    Ledger,
    LedgerBackend,
    LedgerError,
    export_proof,
    verify_proof,
)
from mirrorguard.guard.ledger.encoding import canonical_payload


@pytest.mark.parametrize("seq", [0, 1, 9, 10, 26, 36])
def test_exported_proofs_verify_offline(sealed: Callable[..., LedgerBackend],
                                        public_key: Ed25519PublicKey, seq: int) -> None:
    proof = export_proof(sealed(37, 10), seq)
    text = json.dumps(proof)  # travels as JSON; only the public key is needed to check it
    report = verify_proof(text, public_key)
    assert report.ok and report.reason is None and report.seq == seq


def _proof(sealed: Callable[..., LedgerBackend]) -> dict[str, Any]:
    return export_proof(sealed(30, 10), 14)


def test_edited_payload_fails(sealed: Callable[..., LedgerBackend],
                              keys: tuple[Signer, Verifier]) -> None:
    p = _proof(sealed)
    p["entry"]["payload"] = canonical_payload({"label": "false_positive"})
    assert verify_proof(p, keys[1]).reason == "entry_hash_mismatch"


def test_forged_entry_with_consistent_hash_fails_the_path(
    sealed: Callable[..., LedgerBackend], keys: tuple[Signer, Verifier]
) -> None:
    from mirrorguard.guard.ledger.encoding import hash_fields

    p = _proof(sealed)
    e = p["entry"]
    e["actor"] = "mallory"
    e["entry_hash"] = hash_fields(e["seq"], e["time"], e["kind"], e["actor"], e["payload"],
                                  e["prev_hash"])
    assert verify_proof(p, keys[1]).reason == "audit_path_mismatch"


def test_moved_position_fails(sealed: Callable[..., LedgerBackend],
                              keys: tuple[Signer, Verifier]) -> None:
    p = _proof(sealed)
    p["leaf_index"] += 1
    assert verify_proof(p, keys[1]).reason == "position_mismatch"


def test_other_key_and_spoofed_key_id(sealed: Callable[..., LedgerBackend],
                                      keys: tuple[Signer, Verifier], foreign: Signer) -> None:
    p = _proof(sealed)
    assert verify_proof(p, Verifier(foreign.public_key)).reason == "unknown_signer"
    p["seal"]["root"] = "ab" * 32
    assert verify_proof(p, keys[1]).reason == "audit_path_mismatch"
    q = _proof(sealed)
    q["seal"]["signature"] = foreign.sign(b"other").hex()
    assert verify_proof(q, keys[1]).reason == "bad_signature"


@pytest.mark.parametrize("mutate", [
    lambda p: p.update(format="other"),
    lambda p: p["entry"].pop("kind"),
    lambda p: p["entry"].update(seq="3"),
    lambda p: p.update(audit_path=["zz"]),
    lambda p: p["seal"].update(extra=1),
    lambda p: p.update(leaf_index=True),
])
def test_malformed_proofs_raise(sealed: Callable[..., LedgerBackend],
                                keys: tuple[Signer, Verifier],
                                mutate: Callable[[dict[str, Any]], None]) -> None:
    p = _proof(sealed)
    mutate(p)
    with pytest.raises(LedgerError):
        verify_proof(p, keys[1])
    with pytest.raises(LedgerError):
        verify_proof(b"not json", keys[1])


def test_unsealed_entries_have_no_proof(tmp_path: Any, keys: tuple[Signer, Verifier]) -> None:
    from mirrorguard.guard.ledger import DuckDBLedgerBackend

    ledger = Ledger(DuckDBLedgerBackend(tmp_path / "s.duckdb"), signer=keys[0], seal_every=10)
    ledger.append_many(records(12))
    with pytest.raises(LedgerError, match="not covered"):
        export_proof(ledger.backend, 11)
    ledger.backend.con.execute("UPDATE ledger_entries SET actor = 'm' WHERE seq = 3")
    with pytest.raises(LedgerError, match="does not verify"):
        export_proof(ledger.backend, 4)
