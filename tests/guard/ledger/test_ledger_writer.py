from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.guard.ledger.ledger_helpers import make_backend, records

from mirrorguard.guard.keys import Signer, Verifier
from mirrorguard.guard.ledger import (
    DuckDBLedgerBackend,
    JsonlLedgerBackend,
    Ledger,
    LedgerBackend,
    LedgerError,
    open_backend,
    verify_ledger,
)


def test_sealed_ledger_verifies(sealed: Callable[..., LedgerBackend],
                                keys: tuple[Signer, Verifier]) -> None:
    backend = sealed(53, 10)
    report = verify_ledger(backend, [keys[1]])
    assert report.ok, report.to_dict()
    assert report.entries_checked == 53
    assert report.seals_checked == 6  # 5 full ranges + the partial one sealed at the end
    assert report.sealed_through == 52
    assert report.unsealed == 0
    assert report.first_bad_seq is None


def test_seals_cut_exact_ranges(sealed: Callable[..., LedgerBackend]) -> None:
    seals, problems = sealed(25, 10).read_seals()
    assert not problems
    assert [(s.seal_no, s.first_seq, s.last_seq) for s in seals] == [
        (0, 0, 9), (1, 10, 19), (2, 20, 24)]


def test_wrong_key_makes_every_seal_untrusted(sealed: Callable[..., LedgerBackend],
                                              foreign: Signer) -> None:
    report = verify_ledger(sealed(20, 10), [Verifier(foreign.public_key)])
    assert not report.ok
    assert {f.problem.value for f in report.findings} == {"seal_unknown_signer"}
    assert report.first_bad_seal == 0


def test_unsealed_tail_is_reported_not_tampering(backend_kind: str, tmp_path: Path,
                                                 keys: tuple[Signer, Verifier]) -> None:
    ledger = Ledger(make_backend(backend_kind, tmp_path), signer=keys[0], seal_every=10)
    ledger.append_many(records(14))
    report = ledger.verify([keys[1]])
    assert report.ok
    assert report.unsealed == 4
    assert report.sealed_through == 9


def test_reopen_continues_the_chain(backend_kind: str, tmp_path: Path,
                                    keys: tuple[Signer, Verifier]) -> None:
    with Ledger(make_backend(backend_kind, tmp_path), signer=keys[0], seal_every=10,
                seal_on_close=False) as ledger:
        ledger.append_many(records(13))
    reopened = Ledger(make_backend(backend_kind, tmp_path), signer=keys[0], seal_every=10)
    assert reopened.next_seq == 13
    assert reopened.unsealed == 3
    reopened.append_many(records(9, start=13))
    reopened.close()  # seals the rest
    report = verify_ledger(make_backend(backend_kind, tmp_path), [keys[1]])
    assert report.ok and report.entries_checked == 22 and report.unsealed == 0


def test_refuses_to_append_to_a_tampered_tail(tmp_path: Path,
                                              keys: tuple[Signer, Verifier]) -> None:
    backend = DuckDBLedgerBackend(tmp_path / "s.duckdb")
    ledger = Ledger(backend, signer=keys[0], seal_every=10)
    ledger.append_many(records(15))
    backend.con.execute("UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 12")
    with pytest.raises(LedgerError, match="unsealed entries do not verify"):
        Ledger(backend, signer=keys[0])


def test_refuses_a_last_seal_it_did_not_sign(tmp_path: Path, keys: tuple[Signer, Verifier],
                                             foreign: Signer) -> None:
    backend = DuckDBLedgerBackend(tmp_path / "s.duckdb")
    Ledger(backend, signer=keys[0], seal_every=5).append_many(records(5))
    backend.con.execute("UPDATE ledger_seals SET signature = ?",
                        [foreign.sign(b"x").hex()])
    with pytest.raises(LedgerError, match="last seal"):
        Ledger(backend, signer=keys[0])


def test_cannot_seal_without_a_key(tmp_path: Path) -> None:
    ledger = Ledger(DuckDBLedgerBackend(tmp_path / "s.duckdb"))
    ledger.append("alert", "automation", {"a": 1})
    with pytest.raises(LedgerError, match="no signing key"):
        ledger.seal()


def test_bad_names_and_payloads_are_refused(tmp_path: Path) -> None:
    ledger = Ledger(DuckDBLedgerBackend(tmp_path / "s.duckdb"))
    with pytest.raises(LedgerError):
        ledger.append("alert", "bob smith", {})
    with pytest.raises(LedgerError):
        ledger.append("alert", "automation", {"x": {1, 2}})
    assert ledger.next_seq == 0


def test_open_backend_picks_by_path(tmp_path: Path) -> None:
    assert isinstance(open_backend(tmp_path / "a.ledger"), JsonlLedgerBackend)
    assert isinstance(open_backend(tmp_path / "a.duckdb"), DuckDBLedgerBackend)
    with pytest.raises(LedgerError):
        open_backend(tmp_path / "missing.duckdb", read_only=True)
    with pytest.raises(LedgerError):
        open_backend(tmp_path / "missing.ledger", read_only=True)


def test_ledger_shares_a_store_connection(tmp_path: Path, keys: tuple[Signer, Verifier]) -> None:
    import duckdb

    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    con.execute("CREATE TABLE events (x INTEGER)")
    ledger = Ledger(DuckDBLedgerBackend(con), signer=keys[0])
    ledger.append_many(records(3))
    ledger.close()  # does not close a connection it does not own
    assert con.execute("SELECT count(*) FROM ledger_entries").fetchone() == (3,)
    assert con.execute("SELECT count(*) FROM ledger_seals").fetchone() == (1,)


def test_batch_and_single_appends_build_the_same_chain(
    tmp_path: Path, keys: tuple[Signer, Verifier]
) -> None:
    recs = records(37)
    one = Ledger(DuckDBLedgerBackend(tmp_path / "a.duckdb"), signer=keys[0], seal_every=10,
                 flush_every=4)
    for kind, actor, payload, when in recs:
        one.append(kind, actor, payload, time=when)
    one.flush()
    many = Ledger(DuckDBLedgerBackend(tmp_path / "b.duckdb"), signer=keys[0], seal_every=10,
                  flush_every=4)
    many.append(*recs[0][:3], time=recs[0][3])  # interleaved single and batch appends
    many.append_many(recs[1:20])
    many.append(*recs[20][:3], time=recs[20][3])
    many.append_many(recs[21:])
    a = one.backend.read_entries()[0]
    b = many.backend.read_entries()[0]
    for name in ("seq", "time", "kind", "actor", "payload"):
        assert a.column(name).to_pylist() == b.column(name).to_pylist(), name
    ranges = [[(s.first_seq, s.last_seq) for s in led.backend.read_seals()[0]]
              for led in (one, many)]
    assert ranges[0] == ranges[1] == [(0, 9), (10, 19), (20, 29)]
    assert verify_ledger(many.backend, [keys[1]]).ok  # batch hashes equal single-entry hashes
    assert verify_ledger(one.backend, [keys[1]]).ok
