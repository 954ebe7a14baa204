"""``mirrorguard sigma check`` / ``run`` (the Typer app in interfaces/cli/sigma.py)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from tests.detect.sigma.helpers import frame, sysmon
from typer.testing import CliRunner

from mirrorguard.interfaces.cli.sigma import app
from mirrorguard.store import DuckDBStore

GOOD = """title: Whoami
level: medium
logsource: {product: windows, category: process_creation}
detection: {s: {Image|endswith: '\\\\whoami.exe'}, condition: s}
"""
BAD = """title: Bad
logsource: {product: windows, category: process_creation}
detection: {s: {Image|nosuch: x}, condition: s}
"""


def test_check_reports_failures_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD)
    ok = CliRunner().invoke(app, ["check", str(tmp_path), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["compiled"] == 1
    (tmp_path / "bad.yml").write_text(BAD)
    res = CliRunner().invoke(app, ["check", str(tmp_path), "--json"])
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["failed_by_reason"] == {"pysigma: modifier": 1}
    assert report["failures"][0]["line"] == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(app, ["check", str(empty)]).exit_code == 3


def test_run_over_the_store_writes_alerts(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD)
    store = tmp_path / "s.duckdb"
    events = frame([sysmon(Image="C:\\Windows\\whoami.exe"), sysmon(Image="C:\\a.exe")])
    events = events.with_columns(pl.lit("windows.sysmon").alias("event.dataset"))
    with DuckDBStore(store) as st:
        st.append_events(events)
    out = tmp_path / "alerts.parquet"
    res = CliRunner().invoke(app, ["run", str(tmp_path / "good.yml"), "--store", str(store),
                                   "--out", str(out), "--json"])
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["alerts"] == 1
    assert pl.read_parquet(out)["title"].to_list() == ["Whoami"]
