from __future__ import annotations

import numpy as np
import pytest

from mirrorguard.detect.autoencoder import AutoencoderScorer
from mirrorguard.detect.calibrate import TailNormaliser
from mirrorguard.detect.members import CentroidScorer, HistogramScorer, TailScorer

RNG = np.random.default_rng(0)
Z = RNG.normal(size=(2000, 5))
OUT = np.array([[8.0, 0, 0, 0, 0], [0, 0, -9.0, 0, 0]])


@pytest.mark.parametrize(
    "member",
    [HistogramScorer(), TailScorer(), CentroidScorer(8), AutoencoderScorer(epochs=3)],
    ids=lambda m: m.kind,
)
def test_additive_scores_flag_outliers(member: object) -> None:
    m = member.fit(Z, seed=0)  # type: ignore[attr-defined]
    inliers = m.score(Z[:200])
    c = m.contributions(OUT)
    np.testing.assert_allclose(m.score(OUT), c.sum(axis=1), rtol=1e-6, atol=1e-6)
    assert (m.score(OUT) > np.quantile(inliers, 0.99)).all()
    # the deviating column carries the largest part
    assert c[0].argmax() == 0 and c[1].argmax() == 2


def test_beyond_range_keeps_ranking() -> None:
    h = HistogramScorer().fit(Z, seed=0)
    far = np.zeros((3, 5))
    far[:, 0] = [10.0, 100.0, 1000.0]
    s = h.score(far)
    assert s[0] < s[1] < s[2]


def test_shared_bins_cache_gives_same_scores() -> None:
    h, t = HistogramScorer(n_bins=64).fit(Z, 0), TailScorer(n_bins=64).fit(Z, 0)
    cache: dict[object, object] = {}
    np.testing.assert_array_equal(h.score(OUT, cache), h.score(OUT))
    np.testing.assert_array_equal(t.score(OUT, cache), t.score(OUT))
    assert len(cache) == 1


def test_state_round_trip() -> None:
    for m in (HistogramScorer(), TailScorer(), CentroidScorer(4), AutoencoderScorer(epochs=1)):
        m.fit(Z, seed=1)
        meta, arrays = m.get_state()
        again = type(m).from_state(meta, arrays)
        np.testing.assert_array_equal(again.score(OUT), m.score(OUT))


def test_tail_normaliser_is_monotone_and_extrapolates() -> None:
    n = TailNormaliser().fit(RNG.exponential(size=5000))
    s = n.transform(np.array([0.1, 1.0, 5.0, 50.0, 500.0]))
    assert np.all(np.diff(s) > 0)
    assert 0 < n.transform(np.array([np.log(10.0)]))[0] < 3.0  # ~ -log(0.1) = 2.3
    assert (n.secant(np.array([5.0, 50.0])) > 0).all()
