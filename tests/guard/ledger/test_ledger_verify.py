"""Every kind of tampering is detected, and verification names the first bad entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.guard.ledger.ledger_helpers import records

from mirrorguard.guard.keys import Signer, Verifier
from mirrorguard.guard.ledger import (
    DuckDBLedgerBackend,
    JsonlLedgerBackend,
    Ledger,
    verify_ledger,
)
from mirrorguard.guard.ledger.tamper import (
    DUCKDB_KINDS,
    JSONL_KINDS,
    DuckDBTamperer,
    JsonlTamperer,
    is_located,
    rehash,
)

N, EVERY = 120, 20


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory,
         keys: tuple[Signer, Verifier]) -> DuckDBLedgerBackend:
    backend = DuckDBLedgerBackend(tmp_path_factory.mktemp("d") / "s.duckdb")
    Ledger(backend, signer=keys[0], seal_every=EVERY, flush_every=50).append_many(records(N))
    return backend


@pytest.mark.parametrize("kind", DUCKDB_KINDS)
def test_duckdb_tampering_detected_and_located(
    kind: str, duck: DuckDBLedgerBackend, keys: tuple[Signer, Verifier], foreign: Signer
) -> None:
    seals, _ = duck.read_seals()
    rng = np.random.default_rng(7)
    for _ in range(12):
        duck.con.execute("BEGIN TRANSACTION")
        try:
            t = DuckDBTamperer(duck, seals, foreign, rng).apply(kind)
            report = verify_ledger(duck, [keys[1]])
            chunked = verify_ledger(duck, [keys[1]], chunk_entries=EVERY + 5)  # a seal a read
        finally:
            duck.con.execute("ROLLBACK")
        assert not report.ok, t
        assert is_located(report, t), (t, report.to_dict())
        assert chunked.first_bad_seq == report.first_bad_seq
        assert chunked.first_bad_seal == report.first_bad_seal
    assert verify_ledger(duck, [keys[1]]).ok  # rolled back cleanly


@pytest.mark.parametrize("kind", JSONL_KINDS)
def test_jsonl_tampering_detected_and_located(
    kind: str, tmp_path: Path, keys: tuple[Signer, Verifier]
) -> None:
    backend = JsonlLedgerBackend(tmp_path / "x.ledger", fsync=False)
    Ledger(backend, signer=keys[0], seal_every=EVERY).append_many(records(N))
    tamperer = JsonlTamperer(backend.entries_file, backend.seals_file,
                             np.random.default_rng(11))
    for _ in range(15):
        t = tamperer.apply(kind)
        report = verify_ledger(backend, [keys[1]])
        tamperer.restore()
        assert not report.ok, t
        assert is_located(report, t), (t, report.to_dict())
    assert verify_ledger(backend, [keys[1]]).ok


def test_windowed_verify_sees_only_its_ranges(duck: DuckDBLedgerBackend,
                                              keys: tuple[Signer, Verifier]) -> None:
    duck.con.execute("BEGIN TRANSACTION")
    try:
        duck.con.execute("UPDATE ledger_entries SET actor = 'x' WHERE seq = 5")
        far = verify_ledger(duck, [keys[1]], from_seal=3, to_seal=4)
        near = verify_ledger(duck, [keys[1]], from_seal=0, to_seal=1)
    finally:
        duck.con.execute("ROLLBACK")
    assert far.ok and far.entries_checked == 2 * EVERY and far.window == (60, 99)
    assert not near.ok and near.first_bad_seq == 5


def test_rewrite_of_the_final_entry_is_caught_by_its_seal(
    tmp_path: Path, keys: tuple[Signer, Verifier]
) -> None:
    backend = DuckDBLedgerBackend(tmp_path / "s.duckdb")
    Ledger(backend, signer=keys[0], seal_every=10).append_many(records(10))
    table, _ = backend.read_entries(9, 9)
    from mirrorguard.guard.ledger.encoding import table_to_entries

    forged = rehash(table_to_entries(table)[0], actor="mallory")
    backend.con.execute("UPDATE ledger_entries SET actor = ?, entry_hash = ? WHERE seq = 9",
                        [forged.actor, forged.entry_hash])
    report = verify_ledger(backend, [keys[1]])
    assert report.first_bad_seq == 9
    assert {f.problem.value for f in report.findings} >= {"seal_last_hash_mismatch",
                                                          "seal_root_mismatch"}


def test_rewritten_prev_and_hash_blames_the_rewritten_entry(
    duck: DuckDBLedgerBackend, keys: tuple[Signer, Verifier]
) -> None:
    from mirrorguard.guard.ledger.encoding import table_to_entries

    e = table_to_entries(duck.read_entries(33, 33)[0])[0]
    forged = rehash(e, prev_hash="ab" * 32)
    duck.con.execute("BEGIN TRANSACTION")
    try:
        duck.con.execute("UPDATE ledger_entries SET prev_hash = ?, entry_hash = ? WHERE seq = 33",
                         [forged.prev_hash, forged.entry_hash])
        report = verify_ledger(duck, [keys[1]])
    finally:
        duck.con.execute("ROLLBACK")
    assert report.first_bad_seq == 33


def test_uppercase_hex_is_a_flip_not_an_equivalent_hash(
    duck: DuckDBLedgerBackend, keys: tuple[Signer, Verifier]
) -> None:
    duck.con.execute("BEGIN TRANSACTION")
    try:
        duck.con.execute("UPDATE ledger_entries SET entry_hash = upper(entry_hash) WHERE seq = 8")
        report = verify_ledger(duck, [keys[1]])
    finally:
        duck.con.execute("ROLLBACK")
    assert report.first_bad_seq == 8
    assert report.first_finding is not None
    assert report.first_finding.problem.value == "malformed"


def test_seal_deleted_from_the_middle(duck: DuckDBLedgerBackend,
                                      keys: tuple[Signer, Verifier]) -> None:
    duck.con.execute("BEGIN TRANSACTION")
    try:
        duck.con.execute("DELETE FROM ledger_seals WHERE seal_no = 2")
        report = verify_ledger(duck, [keys[1]])
    finally:
        duck.con.execute("ROLLBACK")
    assert report.first_bad_seal == 2
    assert "seal_sequence" in {f.problem.value for f in report.findings}


def test_findings_are_capped_but_counted(duck: DuckDBLedgerBackend,
                                         keys: tuple[Signer, Verifier]) -> None:
    duck.con.execute("BEGIN TRANSACTION")
    try:
        duck.con.execute("UPDATE ledger_entries SET actor = 'x'")
        report = verify_ledger(duck, [keys[1]], max_findings=5)
    finally:
        duck.con.execute("ROLLBACK")
    assert len(report.findings) == 5
    assert report.findings_total > 5
    assert report.first_bad_seq == 0
