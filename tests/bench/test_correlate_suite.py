"""Pieces of the correlate suite on real data, at small sizes (fast)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import DATA_DIR, need_data
from tests.correlate.conftest import frame, make_alert

from mirrorguard.bench.harness import BenchContext
from mirrorguard.bench.suites import correlate as suite
from mirrorguard.correlate import EntityCorrelator
from mirrorguard.detect.sigma.loader import RuleSet, load_rules


def test_a_mordor_recording_parses_and_sigma_alerts_carry_entities() -> None:
    root = need_data("mordor_security_datasets", "datasets", "atomic", "windows")
    path = root / "credential_access" / "host" / "empire_mimikatz_logonpasswords.zip"
    if not path.exists():
        path = sorted(root.glob("credential_access/host/*.zip"))[0]
    ev = suite._recording(path, "rec1")
    assert ev is not None and ev.height > 100
    assert ev["event.id"].n_unique() == ev.height
    rules = load_rules([need_data("sigma", "rules", "windows", "process_access")])
    counts: dict[str, int] = {}
    notes: list[str] = []
    alerts = suite._alerts(ev.sort("@timestamp"), rules, None, counts, notes, "t")
    assert set(counts) == {"sigma", "beacon"} and any("ueba" in n for n in notes)
    if alerts.height:
        assert alerts["entity.host"].list.len().min() >= 1  # type: ignore[operator]


def test_campaign_part_without_sigma_rules(tmp_path: Path) -> None:
    notes: list[str] = []
    res = suite._campaign(BenchContext(DATA_DIR, tmp_path, seed=0), RuleSet(), notes)
    assert res["alerts"] > 0 and res["campaign_alerts"] > 0
    assert res["alerts_by_detector"]["sigma"] == 0
    assert 0 < res["campaign_alert_recall"] <= 1 and res["campaign_rank"] is not None


def test_false_merges_counts_disconnected_recordings() -> None:
    c = EntityCorrelator()
    f = frame(make_alert(0, host="a", user="u1", title="x"),
              make_alert(1, host=("a", "b"), title="bridge"),
              make_alert(2, host="b", title="y"))
    c.add(f)
    ids = f["alert.id"].to_list()
    # r1 and r2 are connected through the bridge alert's hosts: not a false merge
    assert suite._false_merges(c, {ids[0]: "r1", ids[1]: "r2", ids[2]: "r2"}) == 0
    # if host a and b stop linking (hubs), r1 and r2 share nothing left: a false merge
    c.hubs_.hubs.update({"host:a", "host:b"})
    assert suite._false_merges(c, {ids[0]: "r1", ids[1]: "r2", ids[2]: "r2"}) == 1
    assert suite._false_merges(c, dict.fromkeys(ids, "r1")) == 0
