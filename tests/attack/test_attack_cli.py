"""``mirrorguard attack show|refresh``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from tests.conftest import need_data
from typer.testing import CliRunner

from mirrorguard.attack import AttackTable
from mirrorguard.interfaces.cli.attack import app

runner = CliRunner()


def test_show_technique_json() -> None:
    r = runner.invoke(app, ["show", "T1059.001", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["name"] == "PowerShell" and data["tactic_order"] == {"execution": 3}


def test_show_tactic_and_unknown() -> None:
    r = runner.invoke(app, ["show", "lateral_movement"])
    assert r.exit_code == 0 and "TA0008" in r.stdout
    r = runner.invoke(app, ["show", "T9999"])
    assert r.exit_code == 3


def test_refresh_bad_bundle_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text('{"type": "bundle", "objects": []}')
    r = runner.invoke(app, ["refresh", str(bad), "--out", str(tmp_path / "t.json.gz"), "--json"])
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error"] == "FormatError"


@pytest.mark.data
def test_refresh_writes_a_loadable_table(tmp_path: Path) -> None:
    bundle = need_data("mitre_attack_enterprise", "enterprise-attack.json.gz")
    out = tmp_path / "t.json.gz"
    r = runner.invoke(app, ["refresh", str(bundle), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["techniques"] == 835
    table = AttackTable.from_file(out)
    assert table.lookup("T1003.001") is not None
    assert json.loads(gzip.decompress(out.read_bytes()))["meta"]["source_file"] == bundle.name
    r = runner.invoke(app, ["show", "T1003.001", "--table", str(out)])
    assert r.exit_code == 0 and "OS Credential Dumping: LSASS Memory" in r.stdout
