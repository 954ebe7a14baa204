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


def _rare_benign_kind(n: int, seed: int) -> pl.DataFrame:
    """Tiny single-packet telnet exchanges: a benign kind absent from ``benign_flows``."""
    src = np.random.default_rng(seed).uniform(15, 25, n)
    return benign_flows(n, seed=seed).with_columns(
        pl.Series("src_bytes", src), pl.Series("dst_bytes", src * 3),
        pl.lit(1.0).alias("packets"), pl.lit("telnet").alias("service"),
    )


def test_rare_but_seen_benign_rows_are_left_to_the_classifier() -> None:
    """A benign kind that is rare (hence novel for the benign model) but present in training is
    close to training rows, so the distance gate keeps the novelty part from alerting on it."""
    X, y = labelled()
    rare = _rare_benign_kind(6, seed=21)
    det = HybridDetector(n_estimators=30, num_threads=1, seed=0).fit(
        pl.concat([X, rare]), np.r_[y, np.zeros(rare.height, dtype=int)]
    )
    fresh = _rare_benign_kind(40, seed=22)
    z = (det.novelty_.score(fresh) - det.policy_.threshold_) / det.width_
    assert (z > 0).mean() > 0.5  # the benign-only model finds most of them novel ...
    p_cls, p_nov = det.parts(fresh)
    assert (np.maximum(p_cls, p_nov) >= 0.5).mean() < 0.1  # ... the hybrid does not alert


def test_state_round_trip() -> None:
    X, y = labelled()
    det = HybridDetector(n_estimators=20, num_threads=1, seed=0).fit(X, y)
    meta, arrays = det.get_state()
    again = HybridDetector.from_state(det.get_params(), meta, arrays)
    probe = pl.concat([attack_flows(10, seed=3), benign_flows(10, seed=4)])
    np.testing.assert_allclose(again.score(probe), det.score(probe))
