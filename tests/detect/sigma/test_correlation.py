"""Correlation rules: event_count, value_count, temporal, temporal_ordered (Sigma 2.0)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from mirrorguard.detect.sigma.detector import SigmaRunner
from mirrorguard.detect.sigma.loader import load_rules

BASE = """
title: Failed logon
id: 11111111-1111-4111-8111-111111111111
name: failed_logon
level: low
logsource: {product: windows, service: security}
detection: {s: {EventID: 4625}, condition: s}
---
title: Success logon
id: 22222222-2222-4222-8222-222222222222
name: success_logon
logsource: {product: windows, service: security}
detection: {s: {EventID: 4624}, condition: s}
"""


def _events(spec: list[tuple[int, int, str, str]]) -> pl.DataFrame:
    """(seconds, event id, target user, source ip) → Security events."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame({
        "@timestamp": [t0 + timedelta(seconds=s) for s, *_ in spec],
        "event.id": [f"e{i}" for i in range(len(spec))],
        "winlog.channel": ["Security"] * len(spec),
        "winlog.event_id": pl.Series([e for _, e, _, _ in spec], dtype=pl.Int32),
        "winlog.event_data.TargetUserName": [u for *_, u, _ in spec],
        "winlog.event_data.IpAddress": [ip for *_, ip in spec],
    })


def _runner(tmp_path: Path, correlation: str) -> SigmaRunner:
    (tmp_path / "base.yml").write_text(BASE)
    (tmp_path / "corr.yml").write_text(correlation)
    rs = load_rules([tmp_path])
    assert not rs.failures, rs.failures
    return SigmaRunner(rs)


def test_event_count_per_group_within_timespan(tmp_path: Path) -> None:
    runner = _runner(tmp_path, """
title: Brute force
id: 33333333-3333-4333-8333-333333333333
level: high
tags: [attack.credential-access, attack.t1110]
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 60s
  condition: {gte: 3}
""")
    spec = [(0, 4625, "bob", "1"), (10, 4625, "bob", "1"), (20, 4625, "amy", "1"),
            (30, 4625, "bob", "1"), (200, 4625, "bob", "1"), (210, 4625, "bob", "1")]
    res = runner.run(_events(spec))
    (firing,) = res.firings
    assert firing.group == {"TargetUserName": "bob"} and firing.value == 3
    assert firing.event_ids == ("e0", "e1", "e3")
    corr = res.alerts.filter(pl.col("title") == "Brute force")
    assert corr.height == 1 and corr["severity"][0] == "high"
    assert corr["attack.techniques"][0].to_list() == ["T1110"]
    assert "3 events within 60s for TargetUserName='bob'" in corr["explanation.text"][0]


def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    runner = _runner(tmp_path, """
title: Spray
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition: {field: TargetUserName, gte: 3}
""")
    spec = [(0, 4625, "a", "9.9.9.9"), (5, 4625, "a", "9.9.9.9"), (9, 4625, "b", "9.9.9.9"),
            (12, 4625, "c", "9.9.9.9"), (13, 4625, "a", "1.1.1.1"), (14, 4625, "b", "1.1.1.1")]
    (firing,) = runner.run(_events(spec)).firings
    assert firing.group == {"IpAddress": "9.9.9.9"} and firing.value == 3


def test_temporal_and_temporal_ordered(tmp_path: Path) -> None:
    body = """
title: Fail then success
correlation:
  type: {type}
  rules: [failed_logon, success_logon]
  group-by: [TargetUserName]
  timespan: 1m
"""
    spec = [(0, 4624, "amy", "x"), (10, 4625, "amy", "x"),      # success before failure
            (100, 4625, "bob", "x"), (110, 4624, "bob", "x")]   # failure then success
    unordered = _runner(tmp_path, body.replace("{type}", "temporal")).run(_events(spec))
    assert sorted(f.group["TargetUserName"] for f in unordered.firings) == ["amy", "bob"]
    ordered = _runner(tmp_path, body.replace("{type}", "temporal_ordered")).run(_events(spec))
    assert [f.group["TargetUserName"] for f in ordered.firings] == ["bob"]


def test_base_rules_of_non_generating_correlations_do_not_alert(tmp_path: Path) -> None:
    runner = _runner(tmp_path, """
title: Any fail
correlation: {type: event_count, rules: [failed_logon], timespan: 1h, condition: {gte: 1}}
""")
    res = runner.run(_events([(0, 4625, "a", "x"), (1, 4624, "a", "x")]))
    assert sorted(res.alerts["title"].to_list()) == ["Any fail", "Success logon"]


def test_unresolved_reference_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "corr.yml").write_text("""
title: Dangling
correlation: {type: event_count, rules: [nope], timespan: 1h, condition: {gte: 1}}
""")
    rs = load_rules([tmp_path])
    (fail,) = rs.failures
    assert fail.kind == "unresolved correlation reference" and fail.line == 3
