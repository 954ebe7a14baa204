"""``mirrorguard incidents | incident | verdict | verdicts | suppress | playbook run`` end to
end."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import typer
from tests.correlate.conftest import frame, make_alert
from typer.testing import CliRunner

from mirrorguard.interfaces.cli import incidents as cmd
from mirrorguard.respond.workspace import Workspace

runner = CliRunner()
app = typer.Typer()
app.command("incidents")(cmd.incidents)
app.command("incident")(cmd.incident)
app.command("verdict")(cmd.verdict)
app.add_typer(cmd.verdicts_app, name="verdicts")
app.command("suppress")(cmd.suppress)
app.add_typer(cmd.playbook_app, name="playbook")
AT = "2024-03-02T00:00:00+00:00"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "mg.duckdb"
    con = duckdb.connect(str(path))
    Workspace(con).add_alerts(frame(
        make_alert(0, detector="sigma", host="ws-bob", user="bob", techniques=("T1059.001",),
                   title="encoded powershell"),
        make_alert(30, detector="beacon", ip=("10.0.0.7", "45.77.12.9"), host="ws-bob",
                   techniques=("T1071",), title="beaconing"),
        make_alert(40, detector="ueba", host="backup01", title="volume")))
    con.close()
    return path


def _json(args: list[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    res = runner.invoke(app, [*args, "--json"])
    return res.exit_code, json.loads(res.stdout)


def test_queue_detail_verdict_and_closure(store: Path) -> None:
    code, q = _json(["incidents", "--store", str(store), "--at", AT])
    assert code == 1 and q["total"] == 2
    top = q["incidents"][0]
    assert top["tactics"] == ["execution", "command-and-control"]
    code, d = _json(["incident", top["incident"], "--store", str(store)])
    assert code == 0 and len(d["timeline"]) == 2 and d["graph"]["nodes"]
    assert all(a["text"] for a in d["explanations"].values())
    code, v = _json(["verdict", top["incident"], "--incident", "--label", "true_positive",
                     "--analyst", "alice", "--store", str(store), "--at", AT])
    assert code == 0 and v["accepted"] and v["queued"] == 2
    code, q = _json(["incidents", "--store", str(store), "--at", AT])
    assert q["total"] == 1  # closed by alice's verdict
    code, d = _json(["incident", top["incident"], "--store", str(store)])
    assert d["incident"]["status"] == "closed"
    assert d["incident"]["history"][-1]["actor"] == "alice"
    res = runner.invoke(app, ["verdict", "x", "--label", "false_positive", "--analyst",
                              "automation", "--store", str(store)])
    assert res.exit_code == 2


def test_suppress_preview_then_add(store: Path) -> None:
    args = ["suppress", "--reason", "nightly backup", "--by", "bob", "--detector", "ueba",
            "--entity", "host:backup01", "--ttl", "7d", "--store", str(store), "--at", AT]
    code, p = _json([*args, "--preview"])
    assert code == 0 and p["preview"]["alerts"] == 1 and not p["added"]
    code, q = _json(["incidents", "--store", str(store), "--at", AT])
    assert q["total"] == 2
    code, p = _json(args)
    assert p["added"] and p["hidden_stored_alerts"] == 1
    code, q = _json(["incidents", "--store", str(store), "--at", AT])
    assert q["total"] == 1 and q["hidden_incidents"] == 1
    res = runner.invoke(app, ["suppress", "--reason", "x", "--by", "b", "--store", str(store)])
    assert res.exit_code == 2  # no scope


def test_playbook_run_is_dry_by_default(store: Path, tmp_path: Path) -> None:
    pb = tmp_path / "pb.yaml"
    pb.write_text("playbooks:\n  - name: c2\n    trigger: {tactics_any: [command-and-control]}\n"
                  "    actions:\n      - {type: block_ip, backend: nftables, ttl: 1h, "
                  "targets: external_ip}\n")
    nft = tmp_path / "block.nft"
    code, r = _json(["playbook", "run", str(pb), "--store", str(store), "--nft-file", str(nft),
                     "--at", AT])
    assert code == 0 and r["dry_run"] and [a["status"] for a in r["actions"]] == ["dry_run"]
    assert not nft.exists()
    code, r = _json(["playbook", "run", str(pb), "--execute", "--store", str(store),
                     "--nft-file", str(nft), "--at", AT])
    assert r["actions"][0]["status"] == "active"
    assert "45.77.12.9 timeout 3600s" in nft.read_text()


def test_verdicts_are_recorded_in_the_ledger(store: Path) -> None:
    import duckdb

    _, q = _json(["incidents", "--store", str(store), "--at", AT])
    top = q["incidents"][0]["incident"]
    _json(["verdict", top, "--incident", "--label", "true_positive", "--analyst", "alice",
           "--store", str(store), "--at", AT])
    con = duckdb.connect(str(store), read_only=True)
    rows = con.execute("SELECT kind, actor FROM ledger_entries ORDER BY seq").fetchall()
    assert ("verdict", "alice") in rows


def test_a_held_verdict_waits_for_a_second_analyst(store: Path) -> None:
    s = ["--store", str(store), "--at", AT]
    _, q = _json(["incidents", *s])
    top = q["incidents"][0]["incident"]
    res = runner.invoke(app, ["verdict", top, "--incident", "--label", "false_positive",
                              "--scope", "detector", "--analyst", "alice", *s])
    text = " ".join(res.stdout.split())
    assert res.exit_code == 1 and "HELD for a second analyst" in text
    assert "mirrorguard verdicts approve req-" in text
    code, p = _json(["verdicts", "pending", "--store", str(store)])
    assert code == 1 and [r["analyst"] for r in p["pending"]] == ["alice"]
    rid = p["pending"][0]["request_id"]
    code, a = _json(["verdicts", "approve", rid, "--analyst", "alice", *s])
    assert code == 1 and not a["accepted"] and a["screen_reason"] == "self_approval"
    _, q = _json(["incidents", *s])
    assert q["total"] == 2  # nothing closed yet
    code, a = _json(["verdicts", "approve", rid, "--analyst", "bob", *s])
    assert code == 0 and a["accepted"] and a["queued"] == 2 and a["status"] == "accepted"
    _, d = _json(["incident", top, "--store", str(store)])
    assert d["incident"]["status"] == "closed" and d["incident"]["history"][-1]["actor"] == "bob"
    code, p = _json(["verdicts", "pending", "--store", str(store)])
    assert code == 3 and p["pending"] == []
    con = duckdb.connect(str(store), read_only=True)
    rows = con.execute("SELECT actor, payload FROM ledger_entries WHERE kind = 'verdict' "
                       "ORDER BY seq").fetchall()
    changes = [(a, json.loads(p).get("status") or json.loads(p).get("change")) for a, p in rows]
    assert changes == [("alice", "held"), ("alice", "approval_refused"), ("bob", "approved")]
    stored = con.execute("SELECT status, approved_by, weight FROM verdicts").fetchall()
    assert stored == [("approved", "bob", 1.0)]
    con.close()
    code, _ = _json(["verdicts", "approve", rid, "--analyst", "carol", *s])
    assert code == 2  # settled: no longer pending
