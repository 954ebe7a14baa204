import json

from typer.testing import CliRunner

from mirrorguard.interfaces.cli.app import app
from mirrorguard.scenario.demo import run_demo
from mirrorguard.scenario.generate import generate


def test_generator_is_seeded(tmp_path):
    a = generate(tmp_path / "a", seed=3)
    b = generate(tmp_path / "b", seed=3)
    c = generate(tmp_path / "c", seed=4)
    assert a.conn.read_bytes() == b.conn.read_bytes()
    assert a.auth.read_bytes() == b.auth.read_bytes()
    assert a.conn.read_bytes() != c.conn.read_bytes()


def test_demo_finds_the_injected_attacks_without_false_findings(tmp_path):
    report = run_demo(tmp_path / "demo", seed=7)
    caught = report.caught()
    assert caught == {"brute_force": True, "exfiltration": True, "beacon": True}
    assert all(f.scenario is not None for f in report.findings), report.findings
    assert report.ingest.total("rejected") == 0


def test_demo_cli_json(tmp_path):
    r = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["ingest"]["accepted"] > 10_000


def test_demo_ledger_is_sealed_verifies_and_catches_an_edit(tmp_path):
    import duckdb

    from mirrorguard.guard.keys import Verifier, load_public_key
    from mirrorguard.guard.ledger import DuckDBLedgerBackend, verify_ledger

    report = run_demo(tmp_path / "demo", seed=7)
    con = duckdb.connect(str(report.store))
    kinds = dict(con.execute("SELECT kind, count(*) FROM ledger_entries GROUP BY 1").fetchall())
    assert kinds["model"] >= 1  # the training screen of every fit in the hunts is recorded
    assert report.ledger_entries == (report.ingest.totals()["sources"] + len(report.findings)
                                     + kinds["model"])
    key = Verifier(load_public_key(f"file:{report.public_key}"))
    assert verify_ledger(DuckDBLedgerBackend(con), [key]).first_bad_seq is None
    con.execute("UPDATE ledger_entries SET actor = 'analyst:mallory' WHERE seq = 1")
    assert verify_ledger(DuckDBLedgerBackend(con), [key]).first_bad_seq == 1
