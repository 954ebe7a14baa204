from __future__ import annotations

import numpy as np
import polars as pl
from tests.detect.flowdata import attack_flows, benign_flows

from mirrorguard.detect.streaming import StreamingHistogram


def test_never_learns_from_what_it_flags() -> None:
    det = StreamingHistogram().fit(benign_flows())
    before = det.counts_.copy()
    attacks = attack_flows(40)
    threshold = float(np.quantile(det.score(benign_flows(300, seed=3)), 0.99))
    det.score_then_learn(attacks, threshold)
    # every attack row scored above the threshold, so only decay was... not even applied
    np.testing.assert_array_equal(det.counts_, before)


def test_learning_follows_drift() -> None:
    det = StreamingHistogram(decay=0.5).fit(benign_flows())
    shifted = benign_flows(300, seed=7).with_columns(pl.col("error_rate") + 0.05)
    s0 = det.score(shifted).mean()
    for seed in range(5):
        det.learn(benign_flows(300, seed=20 + seed).with_columns(pl.col("error_rate") + 0.05))
    assert det.score(shifted).mean() < s0


def test_explains_flagged_rows() -> None:
    det = StreamingHistogram().fit(benign_flows())
    ex = det.explain(attack_flows(3), [0, 1])
    assert len(ex) == 2 and ex[0].contributions
