"""The ``ledger`` suite computes its figures on real Zeek data (tiny sizes here)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import need_data

from mirrorguard.bench.harness import BenchContext
from mirrorguard.bench.suites.ledger import Config, config_for, load_sources, run_with


def test_sources_come_from_the_real_logs() -> None:
    folder = need_data("zeek_wrccdc2018", "zeek-default")
    src = load_sources(folder)
    assert len(src.alerts) > 20_000
    assert {a["detector"] for a in src.alerts} == {"zeek.weird", "zeek.notice"}
    assert all(len(i["sha256"]) == 64 for i in src.ingests)


def test_full_config_meets_the_issue_sizes() -> None:
    cfg = config_for(False)
    assert cfg.entries == 1_000_000 and cfg.trials >= 1_000


def test_tiny_run_detects_and_locates_everything(tmp_path: Path) -> None:
    data = need_data()
    ctx = BenchContext(data_dir=data, work_dir=tmp_path, seed=3)
    cfg = Config(entries=600, seal_every=100, trials=48, full_sample_per_kind=1,
                 jsonl_entries=300, jsonl_trials=24, proofs=5, flush_every=128)
    res = run_with(ctx, cfg).results
    assert res["entries"] == 600 and res["seals"] == 6
    assert res["verify_clean_before_and_after_trials"] is True
    assert res["tamper_trials"] == 48
    assert res["tamper_detected"] == res["tamper_located"] == 48
    assert set(res["tamper_by_kind"]) == {
        "byte_flip", "edit_field", "edit_field_rehash", "delete", "insert", "reorder",
        "truncate", "foreign_resign"}
    assert res["full_verify_sample"]["tamper_located"] == 8
    assert res["jsonl"]["tamper_detected"] == res["jsonl"]["tamper_located"] == 24
    assert res["proofs"]["valid"] == res["proofs"]["forged_rejected"] == 5
    assert res["append_per_s"] > 0 and res["verify_per_s"] > 0
