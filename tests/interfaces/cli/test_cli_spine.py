import json

from typer.testing import CliRunner

from mirrorguard.interfaces.cli.app import app

runner = CliRunner()
ROW = '{"ts": 1700000000.5, "uid": "C1", "id.orig_h": "10.0.0.1", "conn_state": "SF"}'


def test_ingest_query_stats_export_roundtrip(tmp_path):
    (tmp_path / "c.json").write_text(ROW + "\nnot json\n")
    db = str(tmp_path / "s.duckdb")
    r = runner.invoke(app, ["ingest", str(tmp_path / "c.json"), "-s", db, "--json"])
    assert r.exit_code == 1, r.output  # one record quarantined
    assert json.loads(r.stdout)["totals"]["accepted"] == 1
    r = runner.invoke(app, ["query", 'SELECT "source.ip" FROM events', "-s", db, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == [{"source.ip": "10.0.0.1"}]
    r = runner.invoke(app, ["stats", "-s", db, "--json"])
    assert json.loads(r.stdout)["quarantine"][0]["records"] == 1
    r = runner.invoke(app, ["export", "--parquet", str(tmp_path / "pq"), "-s", db])
    assert r.exit_code == 0 and list((tmp_path / "pq").rglob("*.parquet"))


def test_errors_exit_2_with_json_shape(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text("nope = 1\n")
    r = runner.invoke(app, ["stats", "-c", str(bad), "--json"])
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error"] == "ConfigError"


def test_nothing_to_ingest_exits_3(tmp_path):
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["ingest", str(tmp_path / "empty"), "-s", str(tmp_path / "s.duckdb")])
    assert r.exit_code == 3


def test_unknown_suite_is_an_error():
    r = runner.invoke(app, ["bench", "no-such-suite"])
    assert r.exit_code == 2


def test_segments_through_the_cli_and_compact(tmp_path):
    """Sources over segment_min_rows land as Parquet segments; compact merges them."""
    config = tmp_path / "m.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "s.duckdb"}"\nsegment_min_rows = 2\n')
    for k in range(3):
        rows = [ROW.replace('"C1"', f'"C{k}-{i}"') for i in range(3)]
        (tmp_path / f"c{k}.json").write_text("\n".join(rows) + "\n")
        r = runner.invoke(app, ["ingest", str(tmp_path / f"c{k}.json"), "-c", str(config)])
        assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "s.duckdb.segments").rglob("*.parquet"))) == 3
    r = runner.invoke(app, ["compact", "-c", str(config), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["files_before"] == 3 and json.loads(r.stdout)["files_after"] == 1
    r = runner.invoke(app, ["query", 'SELECT count(DISTINCT "zeek.session_id") AS n FROM events',
                            "-c", str(config), "--json"])
    assert json.loads(r.stdout) == [{"n": 9}]
    assert len(list((tmp_path / "s.duckdb.segments").rglob("*.parquet"))) == 1
