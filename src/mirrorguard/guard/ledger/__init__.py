"""The decision ledger: append-only, hash-chained, sealed with signed Merkle roots.

Every ingest, alert, incident change, verdict, action and model registration reaches the ledger
as an event on the bus (:class:`LedgerSubscriber`); :func:`verify_ledger` pinpoints the first bad
entry, and :func:`export_proof` / :func:`verify_proof` give a single decision's inclusion proof
that anyone can check offline with the public key.
"""

from mirrorguard.guard.ledger.base import LedgerBackend, LedgerError, ReadProblem
from mirrorguard.guard.ledger.duckdb_backend import DuckDBLedgerBackend
from mirrorguard.guard.ledger.encoding import Entry
from mirrorguard.guard.ledger.jsonl_backend import JsonlLedgerBackend
from mirrorguard.guard.ledger.ledger import Ledger, Record, open_backend
from mirrorguard.guard.ledger.proof import PROOF_FORMAT, ProofReport, export_proof, verify_proof
from mirrorguard.guard.ledger.report import Finding, Problem, VerifyReport
from mirrorguard.guard.ledger.seal import Seal
from mirrorguard.guard.ledger.subscriber import LedgerSubscriber, file_digest, ingest_event
from mirrorguard.guard.ledger.verify import verify_ledger

__all__ = [
    "PROOF_FORMAT",
    "DuckDBLedgerBackend",
    "Entry",
    "Finding",
    "JsonlLedgerBackend",
    "Ledger",
    "LedgerBackend",
    "LedgerError",
    "LedgerSubscriber",
    "Problem",
    "ProofReport",
    "ReadProblem",
    "Record",
    "Seal",
    "VerifyReport",
    "export_proof",
    "file_digest",
    "ingest_event",
    "open_backend",
    "verify_ledger",
    "verify_proof",
]
