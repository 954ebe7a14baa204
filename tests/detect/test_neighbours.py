"""Nearest-training-row distance: exact distances, held-out threshold, state round trip."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorguard.detect.neighbours import NearestTrainingDistance
from mirrorguard.errors import ConfigError, MirrorguardError

RNG = np.random.default_rng(3)
Z = RNG.normal(size=(2500, 6))


def test_distances_match_brute_force() -> None:
    nn = NearestTrainingDistance(calibration_rows=300, max_reference=900, seed=1).fit(Z)
    Q = RNG.normal(size=(700, 6)) * 2.0  # more than one query block and reference block
    diff = Q[:, None, :] - nn.reference_[None, :, :].astype(np.float64)
    exact = np.sqrt((diff**2).sum(axis=2).min(axis=1))
    np.testing.assert_allclose(nn.distance(Q), exact, rtol=1e-3, atol=1e-3)
    assert nn.reference_.shape == (900, 6)


def test_threshold_gives_the_target_rate_on_fresh_rows() -> None:
    nn = NearestTrainingDistance(fpr=0.05, calibration_rows=500, seed=0).fit(Z)
    fresh = nn.distance(RNG.normal(size=(2000, 6)))
    assert 0.02 < (fresh > nn.threshold_).mean() < 0.10
    p = nn.probability(np.array([[0.0] * 6, [20.0] * 6]))
    assert p[0] < 0.5 < p[1]


def test_state_round_trip_and_errors() -> None:
    nn = NearestTrainingDistance(calibration_rows=200, seed=0).fit(Z)
    meta, arrays = nn.state()
    again = NearestTrainingDistance.from_state(meta, arrays)
    np.testing.assert_array_equal(again.distance(Z[:50]), nn.distance(Z[:50]))
    assert again.threshold_ == nn.threshold_
    with pytest.raises(ConfigError):
        NearestTrainingDistance(fpr=1.5).fit(Z)
    with pytest.raises(MirrorguardError):
        NearestTrainingDistance().fit(Z[:10])
    with pytest.raises(MirrorguardError):
        NearestTrainingDistance().distance(Z)
