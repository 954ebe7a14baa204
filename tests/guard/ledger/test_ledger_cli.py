"""The ``mirrorguard ledger`` commands (exit codes 0 ok, 1 tampering, 2 error)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.guard.ledger.ledger_helpers import records
from typer.testing import CliRunner

from mirrorguard.guard.keys import Signer, Verifier, generate_keypair, public_pem
from mirrorguard.guard.ledger import DuckDBLedgerBackend, JsonlLedgerBackend, Ledger
from mirrorguard.interfaces.cli.ledger import app

runner = CliRunner()


@pytest.fixture
def setup(tmp_path: Path, keys: tuple[Signer, Verifier]) -> tuple[Path, Path, Path]:
    store = tmp_path / "store.duckdb"
    with Ledger(DuckDBLedgerBackend(store), signer=keys[0], seal_every=10) as ledger:
        ledger.append_many(records(25))
    jl = tmp_path / "side.ledger"
    with Ledger(JsonlLedgerBackend(jl), signer=keys[0], seal_every=10) as ledger:
        ledger.append_many(records(12))
    pub = tmp_path / "pub.pem"
    pub.write_bytes(public_pem(keys[0].public_key))
    return store, jl, pub


def test_verify_clean_then_tampered(setup: tuple[Path, Path, Path]) -> None:
    store, jl, pub = setup
    for target in (store, jl):
        res = runner.invoke(app, ["verify", str(target), "--public-key", f"file:{pub}",
                                  "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["ok"] is True
    b = DuckDBLedgerBackend(store)
    b.con.execute("UPDATE ledger_entries SET payload = '{\"label\":\"fp\"}' WHERE seq = 17")
    b.close()
    res = runner.invoke(app, ["verify", str(store), "-k", f"file:{pub}", "--json"])
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["first_bad_seq"] == 17 and report["first_problem"] == "hash_mismatch"
    res = runner.invoke(app, ["verify", str(store), "-k", f"file:{pub}"])
    assert res.exit_code == 1 and "first bad entry: seq 17" in res.stdout


def test_verify_with_foreign_key_and_errors(setup: tuple[Path, Path, Path],
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store, _, _ = setup
    monkeypatch.setenv("MG_OTHER_KEY", public_pem(generate_keypair()[1]).decode())
    res = runner.invoke(app, ["verify", str(store), "-k", "env:MG_OTHER_KEY"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["verify", str(store), "-k", "env:MG_UNSET_KEY_X"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["verify", str(tmp_path / "none.duckdb"), "-k",
                              "env:MG_OTHER_KEY"])
    assert res.exit_code == 2


def test_proof_roundtrip_and_forgery(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    store, _, pub = setup
    proof_file = tmp_path / "p.json"
    res = runner.invoke(app, ["proof", "13", "--ledger", str(store), "--out", str(proof_file)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["check-proof", str(proof_file), "-k", f"file:{pub}", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["ok"] is True
    doc = json.loads(proof_file.read_text())
    doc["entry"]["actor"] = "mallory"
    proof_file.write_text(json.dumps(doc))
    res = runner.invoke(app, ["check-proof", str(proof_file), "-k", f"file:{pub}"])
    assert res.exit_code == 1 and "entry_hash_mismatch" in res.stdout
    proof_file.write_text("{}")
    assert runner.invoke(app, ["check-proof", str(proof_file), "-k", f"file:{pub}"]).exit_code == 2
    assert runner.invoke(app, ["proof", "999", "--ledger", str(store)]).exit_code == 2
