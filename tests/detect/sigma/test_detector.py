"""Alerts from rules: title, level, rule id, ATT&CK tags, matched fields/values, evidence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.detect.sigma.helpers import frame, sysmon

from mirrorguard.detect.sigma import SigmaDetector, SigmaRunner, load_rules
from mirrorguard.errors import IntegrityError
from mirrorguard.schema.alerts import ALERT_SCHEMA

RULE = """
title: Whoami Execution
id: 5a6b7c8d-1111-4222-8333-944445555666
status: test
level: high
tags: [attack.discovery, attack.t1033, attack.t1059.001]
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\whoami.exe'}
  flt: {ParentImage|endswith: '\\benign.exe'}
  condition: sel and not flt
"""


def _runner(tmp_path: Path) -> SigmaRunner:
    (tmp_path / "r.yml").write_text(RULE)
    return SigmaRunner(load_rules([tmp_path]))


def _events() -> pl.DataFrame:
    return frame([
        sysmon(Image="C:\\Windows\\System32\\whoami.exe", ParentImage="C:\\x\\cmd.exe",
               User="CORP\\alice", CommandLine="whoami /all"),
        sysmon(Image="C:\\Windows\\System32\\whoami.exe", ParentImage="C:\\x\\benign.exe"),
        sysmon(Image="C:\\Windows\\System32\\notepad.exe"),
    ]).with_columns(pl.lit("host-1").alias("host.name"), pl.lit("alice").alias("user.name"))


def test_alert_frame_carries_rule_metadata_and_explanation(tmp_path: Path) -> None:
    res = _runner(tmp_path).run(_events())
    alerts = res.alerts
    assert alerts.schema == ALERT_SCHEMA and alerts.height == 1
    row = alerts.row(0, named=True)
    assert row["detector"] == "sigma" and row["title"] == "Whoami Execution"
    assert row["severity"] == "high" and row["score"] == 0.75
    assert row["model.version"] == "5a6b7c8d-1111-4222-8333-944445555666"
    assert row["attack.techniques"] == ["T1033", "T1059.001"]
    assert row["evidence.event_ids"] == ["e0"]
    assert row["entity.host"] == ["host-1"] and row["entity.user"][0] == "alice"
    assert "Image suffix \\whoami.exe" in row["explanation.text"]
    detail = json.loads(row["explanation.json"])
    (contrib,) = detail["contributions"]
    assert contrib["feature"] == "Image"
    assert contrib["value"] == "C:\\Windows\\System32\\whoami.exe"
    assert detail["extra"]["tactics"] == ["discovery"]
    assert detail["extra"]["rule_file"].endswith("r.yml")


def test_alert_ids_are_deterministic(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    a = runner.run(_events()).alerts["alert.id"].to_list()
    assert a == runner.run(_events()).alerts["alert.id"].to_list()


def test_detector_contract(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(RULE)
    det = SigmaDetector([str(tmp_path)])
    assert det.get_params() == {"rule_paths": [str(tmp_path)]}
    assert not det.is_fitted()
    det.fit(pl.DataFrame())
    X = _events()
    before = X.clone()
    np.testing.assert_array_equal(det.score(X), [0.75, 0.0, 0.0])
    assert X.equals(before)
    ex = det.explain(X, [0, 2])
    assert "Whoami Execution" in ex[0].text and ex[1].text == "no Sigma rule matched"


def test_detector_state_round_trip_pins_the_rule_files(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(RULE)
    det = SigmaDetector([str(tmp_path)]).fit(pl.DataFrame())
    meta, arrays = det.get_state()
    assert arrays == {} and meta["rules"] == 1
    back = SigmaDetector.from_state(det.get_params(), meta, arrays)
    np.testing.assert_array_equal(back.score(_events()), det.score(_events()))
    (tmp_path / "r.yml").write_text(RULE.replace("level: high", "level: low"))
    with pytest.raises(IntegrityError):
        SigmaDetector.from_state(det.get_params(), meta, arrays)
