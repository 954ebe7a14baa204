"""``--screen-policy`` and ``guard.training_policy`` reach every fit the commands run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mirrorguard.guard.data import active_policy
from mirrorguard.interfaces.cli import bench as bench_cmd
from mirrorguard.interfaces.cli import demo as demo_cmd
from mirrorguard.interfaces.cli.app import app

runner = CliRunner()


class _Report:
    """Captures the policy active while the command's work runs."""

    def __init__(self) -> None:
        self.seen = {"policy": active_policy().policy, "chunk_rows": active_policy().chunk_rows}

    def to_dict(self) -> dict[str, Any]:
        return self.seen


def _fake_demo(out_dir: Path, seed: int = 7, settings: object = None) -> _Report:
    return _Report()


def _fake_suite(name: str, ctx: object) -> dict[str, Any]:
    return _Report().to_dict()


def test_demo_applies_the_flag_then_the_configured_policy(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_cmd, "run_demo", _fake_demo)
    cfg = tmp_path / "m.toml"
    cfg.write_text('[guard]\ntraining_policy = "warn"\ntraining_chunk_rows = 5000\n')
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "-c", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"policy": "warn", "chunk_rows": 5000}
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "-c", str(cfg), "--json",
                            "--screen-policy", "block"])
    assert json.loads(r.stdout) == {"policy": "block", "chunk_rows": 5000}
    cfg.write_text('[guard]\ntraining_policy = "delete"\n')
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "-c", str(cfg), "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"] == "ConfigError"


def test_bench_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_cmd, "run_suite", _fake_suite)
    r = runner.invoke(app, ["bench", "detect", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["policy"] == "quarantine"
    r = runner.invoke(app, ["bench", "detect", "--json", "--screen-policy", "off"])
    assert json.loads(r.stdout)["policy"] == "off"
    assert runner.invoke(app, ["bench", "detect", "--screen-policy", "drop"]).exit_code == 2
