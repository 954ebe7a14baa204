"""The beacon benchmark: real shapes load, the generator honours the grid, metrics are right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.bench.harness import BenchContext
from mirrorguard.bench.suites import beacon as suite
from mirrorguard.detect.beacon import BeaconDetector


@pytest.fixture(scope="module")
def shapes() -> suite.RealShapes:
    data = need_data()
    need_data(*suite.WRCCDC)
    need_data(*suite.MORDOR)
    return suite.load_shapes(BenchContext(data_dir=data, work_dir=Path("."), seed=0))


def test_real_shapes_come_from_the_logs(shapes: suite.RealShapes) -> None:
    assert len(shapes.gaps) > 200 and all((g >= 0).all() for g in shapes.gaps)
    assert shapes.sizes.shape[1] == 3 and len(shapes.sizes) > 1000
    assert "ise.wrccdc.org" in shapes.names


def test_beacon_times_follow_period_jitter_and_missed_beats() -> None:
    rng = np.random.default_rng(0)
    t = suite.beacon_times(rng, 60.0, 0.5, 0.0, cs_style=True)
    gaps = np.diff(t)
    assert gaps.min() >= 30.0 - 1e-6 and gaps.max() <= 60.0 + 1e-6
    dense = suite.beacon_times(np.random.default_rng(1), 60.0, 0.0, 0.0, cs_style=False)
    sparse = suite.beacon_times(np.random.default_rng(1), 60.0, 0.0, 0.2, cs_style=False)
    assert 0.7 < len(sparse) / len(dense) < 0.9


def test_small_mix_is_detected(shapes: suite.RealShapes, tmp_path: Path) -> None:
    events, truth, n_benign = suite.generate_mix(shapes, seed=5, n_hosts=15, reps=1)
    assert truth.height == len(suite.PERIODS) * len(suite.JITTERS) * len(suite.MISSED)
    assert n_benign > 15 and events["bench.unit"].str.starts_with("benign").any()
    det = BeaconDetector(levels=suite.LEVELS)
    lf = suite.labelled_findings(det, suite.ALLOW.filter_events(events))
    m = suite.metrics_at(lf, truth, 0.6)
    assert m["recall"] >= 0.9 and m["precision"] >= 0.8
    stored = suite._stored_check(tmp_path, det, events)
    assert stored["equal_to_frame_filter"] == 1 and stored["after_allowlist"] < stored["stored"]


def test_metrics_and_threshold_fit_on_a_toy_table() -> None:
    lf = pl.DataFrame({
        "score": [0.9, 0.8, 0.7, 0.4],
        "units": [["beacon:0:0"], ["benign:1:0"], ["beacon:0:1"], ["benign:2:0"]],
        "is_beacon": [True, False, True, False],
        "has_beacon": [True, False, True, False],
        "unit_set": ["beacon:0:0", "benign:1:0", "beacon:0:1", "benign:2:0"],
    })
    truth = pl.DataFrame({"unit": ["beacon:0:0", "beacon:0:1"], "mode": ["ip", "dns"]})
    m = suite.metrics_at(lf, truth, 0.7)
    assert (m["precision"], m["recall"], m["false_alerts"]) == (round(2 / 3, 4), 1.0, 1)
    assert suite.fit_threshold(lf, truth, target=0.97) == 0.9
