"""``mirrorguard suppress`` holding a detector-wide suppression and ``suppressions approve``."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from tests.correlate.conftest import frame, make_alert
from typer.testing import CliRunner

from mirrorguard.interfaces.cli.app import app
from mirrorguard.respond.workspace import Workspace

runner = CliRunner()
AT = "2024-03-02T00:00:00+00:00"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "mg.duckdb"
    con = duckdb.connect(str(path))
    Workspace(con).add_alerts(frame(
        make_alert(30, detector="beacon", ip=("10.0.0.7", "45.77.12.9"), host="ws-bob",
                   title="beaconing"),
        make_alert(40, detector="ueba", host="backup01", title="volume")))
    con.close()
    return path


def _json(args: list[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    res = runner.invoke(app, [*args, "--json"])
    return res.exit_code, json.loads(res.stdout)


def test_detector_wide_suppression_waits_for_a_second_person(store: Path) -> None:
    s = ["--store", str(store), "--at", AT]
    code, p = _json(["suppress", "--reason", "noisy", "--by", "alice", "--detector", "ueba", *s])
    assert code == 1 and p["held_for_approval"] and not p["added"]
    sid = p["suppression"]["id"]
    code, q = _json(["incidents", *s])
    assert q["total"] == 2  # not in force yet
    code, pend = _json(["suppressions", "pending", "--store", str(store)])
    assert code == 1 and [r["id"] for r in pend["pending"]] == [sid]
    res = runner.invoke(app, ["suppressions", "approve", sid, "--by", "alice", *s, "--json"])
    assert res.exit_code == 2 and "other than" in res.stdout  # self-approval refused
    code, a = _json(["suppressions", "approve", sid, "--by", "bob", *s])
    assert code == 0 and a["hidden_stored_alerts"] == 1
    code, q = _json(["incidents", *s])
    assert q["total"] == 1
    code, pend = _json(["suppressions", "pending", "--store", str(store)])
    assert code == 3 and pend["pending"] == []
    led = duckdb.connect(str(store)).execute(
        "SELECT actor FROM ledger_entries WHERE kind = 'suppression' ORDER BY seq").fetchall()
    assert [r[0] for r in led] == ["alice", "alice", "bob"]  # held, refused, approved
