"""``mirrorguard models …``: list, show, register, promote, rollback, verify, bom, OpenSSF."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from typer.testing import CliRunner

from mirrorguard.guard.artifacts.lightgbm_io import save_lightgbm
from mirrorguard.guard.keys import Signer, generate_keypair, private_pem, public_pem
from mirrorguard.interfaces.cli.models import app

runner = CliRunner()


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    priv, pub = generate_keypair()
    (tmp_path / "pub.pem").write_bytes(public_pem(pub))
    monkeypatch.setenv("MG_TEST_SIGNING_KEY", private_pem(priv).decode())
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    for i, rounds in enumerate((3, 6)):
        booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4,
                             "num_threads": 1}, lgb.Dataset(X, y), num_boost_round=rounds)
        save_lightgbm(booster, tmp_path / f"v{i}", Signer(priv), name="gbm",
                      metrics={"auc": 0.8 + i / 10})
    return {"db": str(tmp_path / "s.duckdb"), "trust": f"file:{tmp_path / 'pub.pem'}",
            "v0": str(tmp_path / "v0"), "v1": str(tmp_path / "v1"), "tmp": str(tmp_path)}


def _json(args: list[str], code: int = 0) -> object:
    r = runner.invoke(app, args)
    assert r.exit_code == code, r.output
    return json.loads(r.stdout)


def test_register_promote_rollback_and_list(setup: dict[str, str]) -> None:
    db, trust = setup["db"], setup["trust"]
    r = runner.invoke(app, ["list", "-s", db])
    assert r.exit_code == 3  # nothing registered
    ids = []
    for v in ("v0", "v1"):
        rec = _json(["register", setup[v], "-s", db, "-k", trust, "--json"])
        assert isinstance(rec, dict)
        ids.append(rec["model_id"])
    for model_id in ids:
        res = _json(["promote", model_id, "--actor", "alice", "-s", db, "-k", trust, "--json"])
        assert isinstance(res, dict) and res["promoted"] is True
    rec = _json(["rollback", "gbm", "--actor", "bob", "--reason", "bad", "-s", db, "-k", trust,
                 "--json"])
    assert isinstance(rec, dict) and rec["model_id"] == ids[0] and rec["stage"] == "production"
    rows = _json(["list", "-s", db, "--json", "--stage", "retired"])
    assert isinstance(rows, list) and [r["model_id"] for r in rows] == [ids[1]]
    shown = _json(["show", ids[0], "-s", db, "--json"])
    assert isinstance(shown, dict)
    assert [e["event"] for e in shown["events"]] == ["register", "promote", "retire", "rollback"]
    r = runner.invoke(app, ["list", "-s", db])
    assert r.exit_code == 0 and "gbm" in r.stdout


def test_verify_and_bom(setup: dict[str, str]) -> None:
    db, trust = setup["db"], setup["trust"]
    rec = _json(["register", setup["v0"], "-s", db, "-k", trust, "--json"])
    assert isinstance(rec, dict)
    ok = _json(["verify", rec["model_id"], "-s", db, "-k", trust, "--json"])
    assert isinstance(ok, dict) and ok["verified"] is True
    bom = _json(["bom", rec["model_id"], "-s", db, "-k", trust])
    assert isinstance(bom, dict) and bom["components"][0]["type"] == "machine-learning-model"
    model_txt = Path(setup["v0"]) / "model.txt"
    model_txt.write_text(model_txt.read_text().replace("Tree=0", "Tree=9"))
    err = _json(["verify", setup["v0"], "-k", trust, "--json"], code=2)
    assert isinstance(err, dict) and err["error"] == "UnsafeArtifactError"
    assert "model.txt" in err["file"]
    r = runner.invoke(app, ["verify", rec["model_id"], "-s", db])  # no trusted key given
    assert r.exit_code == 2


def test_openssf_export_and_verify(setup: dict[str, str]) -> None:
    bundle = str(Path(setup["tmp"]) / "v0.sig")
    r = runner.invoke(app, ["openssf-export", setup["v0"], "--key", "env:MG_TEST_SIGNING_KEY",
                            "--out", bundle])
    assert r.exit_code == 0, r.output
    res = _json(["openssf-verify", setup["v0"], bundle, "--pub", setup["trust"], "--json"])
    assert isinstance(res, dict) and res["files"] == 3
    _json(["openssf-verify", setup["v1"], bundle, "--pub", setup["trust"], "--json"], code=2)


def test_registry_changes_are_recorded_in_the_ledger(setup: dict[str, str]) -> None:
    import duckdb

    db, trust = setup["db"], setup["trust"]
    rec = _json(["register", setup["v0"], "-s", db, "-k", trust, "--json"])
    assert isinstance(rec, dict)
    _json(["promote", rec["model_id"], "--actor", "alice", "-s", db, "-k", trust, "--json"])
    con = duckdb.connect(db, read_only=True)
    rows = con.execute("SELECT kind, actor FROM ledger_entries ORDER BY seq").fetchall()
    assert [k for k, _ in rows].count("model") >= 2 and ("model", "alice") in rows
