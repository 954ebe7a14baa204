from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import typer
from typer.testing import CliRunner

from mirrorguard.interfaces.cli.guard_data import data

from .conftest import blobs

app = typer.Typer()
app.command()(data)
runner = CliRunner()


def _files(tmp_path: Path, flip: bool) -> Path:
    X, y = blobs(300, seed=5)
    if flip:
        y[:20] = 1 - y[:20]
    path = tmp_path / ("noisy.parquet" if flip else "clean.csv")
    frame = X.with_columns(pl.Series("label", np.where(y == 1, "attack", "normal")))
    if flip:
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path


def test_findings_exit_1_and_outputs(tmp_path: Path) -> None:
    path = _files(tmp_path, flip=True)
    out = tmp_path / "out"
    res = runner.invoke(app, [str(path), "--label", "label", "--out-dir", str(out), "--json",
                              "--no-backdoor"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert doc["quarantined_rows"] >= 15
    saved = json.loads((out / "report.json").read_text())
    assert saved["quarantined_rows"] == doc["quarantined_rows"]
    kept = pl.read_parquet(out / "sanitized.parquet")
    quarantined = pl.read_parquet(out / "quarantine.parquet")
    assert kept.height + quarantined.height == 300 and "label" in kept.columns
    assert set(quarantined["reasons"]) == {"label_flip"}


def test_clean_exit_0_block_and_errors(tmp_path: Path) -> None:
    clean = _files(tmp_path, flip=False)
    res = runner.invoke(app, [str(clean), "--label", "label", "--no-backdoor"])
    assert res.exit_code == 0, res.output
    noisy = _files(tmp_path, flip=True)
    res = runner.invoke(app, [str(noisy), "--label", "label", "--policy", "block",
                              "--no-backdoor", "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["error"] == "PoisoningBlocked"
    res = runner.invoke(app, [str(clean), "--label", "nope"])
    assert res.exit_code == 2
    res = runner.invoke(app, [str(tmp_path / "x.txt"), "--label", "label"])
    assert res.exit_code == 2
