"""Alerts from hits, the intel tables in the store, and ``mirrorguard intel load|match``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from mirrorguard.detect.intel import IntelMatcher, hits_to_alerts, load_intel, load_stix, save_intel
from mirrorguard.interfaces.cli.intel import app
from mirrorguard.schema.alerts import ALERT_SCHEMA
from mirrorguard.store.duckdb_store import DuckDBStore

runner = CliRunner()
T = datetime(2024, 5, 1, tzinfo=UTC)
BUNDLE = {"type": "bundle", "objects": [
    {"type": "indicator", "id": "indicator--c2", "pattern": "[domain-name:value = 'evil.example']",
     "valid_from": "2024-01-01T00:00:00Z", "modified": "2024-04-30T00:00:00Z", "confidence": 90,
     "name": "C2 domain", "kill_chain_phases": [], "external_references": [
         {"source_name": "mitre-attack", "external_id": "T1071.004"}]},
    {"type": "sighting", "id": "sighting--1", "sighting_of_ref": "indicator--c2",
     "x_false_positive": True},
    {"type": "indicator", "id": "indicator--bad", "pattern": "[nope",
     "valid_from": "2024-01-01T00:00:00Z"}]}


def _events() -> pl.DataFrame:
    return pl.DataFrame({
        "@timestamp": [T, T, T], "event.id": ["a", "b", "c"], "event.dataset": ["zeek.dns"] * 3,
        "host.name": ["ws1", "ws2", "ws3"], "source.ip": ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
        "dns.question.name": ["x.evil.example", "x.evil.example", "good.example"]},
        schema_overrides={"@timestamp": pl.Datetime("us", "UTC")})


def test_alert_content() -> None:
    ev = _events()
    intel = load_stix(BUNDLE)
    alerts = hits_to_alerts(IntelMatcher(intel).match(ev), ev)
    assert alerts.schema == pl.Schema(ALERT_SCHEMA)
    a = alerts.row(0, named=True)
    assert alerts.height == 1 and a["detector"] == "intel"
    assert a["evidence.event_ids"] == ["a", "b"] and a["attack.techniques"] == ["T1071.004"]
    assert a["entity.domain"] == ["x.evil.example"] and a["entity.host"] == ["ws1", "ws2"]
    assert a["severity"] == "low" and 0.2 < a["score"] < 0.5  # 90 halved by one FP report
    extra = json.loads(a["explanation.json"])["extra"]["indicator"]
    assert extra["id"] == "indicator--c2" and extra["false_positives"] == 1
    assert "1 false-positive reports" in a["explanation.text"]


def test_store_round_trip(tmp_path: Path) -> None:
    intel = load_stix(BUNDLE)
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        assert save_intel(st, intel) == {"intel_indicators": 1, "intel_sightings": 1}
        save_intel(st, intel)  # idempotent
        back = load_intel(st)
    assert back.indicators.equals(intel.indicators)
    assert back.sightings.height == 1


def test_cli_load_and_match(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps(BUNDLE, indent=1))
    r = runner.invoke(app, ["load", str(feed), "-s", db, "--strict", "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["loaded"] is False
    r = runner.invoke(app, ["match", "-s", db])
    assert r.exit_code == 3  # nothing loaded yet
    r = runner.invoke(app, ["load", str(feed), "-s", db])
    assert r.exit_code == 1 and "invalid_pattern" in r.output
    with DuckDBStore(db) as st:
        st.append_events(_events())
    r = runner.invoke(app, ["match", "-s", db, "--save", "--json"])
    assert r.exit_code == 1, r.output
    out = json.loads(r.stdout)
    assert out["alerts"] == 1 and out["saved"] == 1 and out["events"] == 3
    r = runner.invoke(app, ["load", str(tmp_path / "missing.json"), "-s", db])
    assert r.exit_code == 2
