"""``mirrorguard guard scan`` as a Typer command: exit codes and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from mirrorguard.interfaces.cli.guard_scan import scan

PAYLOAD = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("scan")(scan)

    @app.callback()
    def _root() -> None:
        """test root"""

    return app


def test_json_findings_exit_1(tmp_path: Path) -> None:
    (tmp_path / "bad.pkl").write_bytes(PAYLOAD)
    result = CliRunner().invoke(_app(), ["scan", "--json", str(tmp_path)])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 1
    assert {f["global_name"] for f in doc["findings"]} == {"os.system"}


def test_table_and_second_opinion(tmp_path: Path) -> None:
    (tmp_path / "bad.pkl").write_bytes(PAYLOAD)
    result = CliRunner().invoke(_app(), ["scan", "--second-opinion", "picklescan",
                                         str(tmp_path / "bad.pkl")])
    assert result.exit_code == 1
    assert "CRITICAL" in result.output and "picklescan" in result.output


def test_nothing_scanned_exit_3(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    assert CliRunner().invoke(_app(), ["scan", str(tmp_path)]).exit_code == 3


def test_unknown_second_opinion_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["scan", "--second-opinion", "nope", str(tmp_path)])
    assert result.exit_code == 2
