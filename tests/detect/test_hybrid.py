from __future__ import annotations

import numpy as np
import polars as pl
from tests.detect.flowdata import attack_flows, benign_flows, labelled

from mirrorguard.detect.hybrid import HybridDetector


def test_catches_attack_types_absent_from_training() -> None:
    X, y = labelled()
    det = HybridDetector(n_estimators=30, num_threads=1, seed=0).fit(X, y)
    novel = attack_flows(30, seed=5).with_columns(
        pl.lit(0.0).alias("error_rate"), pl.lit("ftp").alias("service"),
        (pl.col("src_bytes") * 0 + 3.0).alias("src_bytes"),
    )
    p_cls, p_nov = det.parts(novel)
    s = det.score(novel)
    np.testing.assert_array_equal(s, np.maximum(p_cls, p_nov))
    assert (s >= 0.5).mean() > 0.9
    benign = det.score(benign_flows(400, seed=8))
    assert (benign >= 0.5).mean() < 0.1


def test_explanations_come_from_the_deciding_part() -> None:
    X, y = labelled()
    det = HybridDetector(n_estimators=30, num_threads=1, seed=0).fit(X, y)
    ex = det.explain(attack_flows(4, seed=9), [0, 1, 2])
    assert len(ex) == 3 and all(e.text for e in ex)
