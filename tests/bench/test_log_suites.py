"""The logparse and logad suites on the real shared data."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import need_data

from mirrorguard.bench.harness import BenchContext


def _ctx(tmp_path: Path, quick: bool) -> BenchContext:
    return BenchContext(data_dir=need_data(), work_dir=tmp_path, seed=0, quick=quick)


def test_logparse_suite_meets_accuracy_targets(tmp_path: Path) -> None:
    need_data("loghub_2k_corrected")
    from mirrorguard.bench.suites.logparse import run

    res = run(_ctx(tmp_path, quick=True))
    r, d = res.results, res.baselines["drain3"]
    assert r["average_grouping_accuracy"] >= 0.93
    assert r["average_grouping_accuracy"] >= d["average_grouping_accuracy"]
    assert r["min_grouping_accuracy"] >= 0.80
    assert r["lines_per_s"] > 0 and d["lines_per_s"] > 0
    assert len([k for k, v in r.items() if isinstance(v, dict)]) == 16


@pytest.mark.slow
def test_logad_suite_meets_f1_target(tmp_path: Path) -> None:
    need_data("hdfs_loglead_2pct")
    need_data("hdfs_deeplog")
    from mirrorguard.bench.suites.logad import run

    res = run(_ctx(tmp_path, quick=False))
    ours = res.results["hdfs_loglead"]
    assert ours["f1"] >= 0.95
    assert all(ours["f1"] > b["hdfs_loglead"]["f1"] for b in res.baselines.values())
    assert res.results["hdfs_deeplog"]["f1"] > 0.9
    assert res.results["hdfs_deeplog"]["loglead_lines_without_key"] == 0
