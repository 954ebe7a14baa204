from __future__ import annotations

import numpy as np
import pytest

from mirrorguard.detect.policy import ThresholdPolicy
from mirrorguard.errors import ConfigError, MirrorguardError


def test_gpd_threshold_matches_known_tail() -> None:
    benign = np.random.default_rng(0).exponential(size=50_000)
    pol = ThresholdPolicy(target_fpr=1e-4).fit(benign)
    assert pol.method_ == "generalised Pareto tail fit"
    # exact: -log(1e-4) = 9.21, decided by the ~5 largest of 50k samples empirically
    assert abs(pol.threshold_ - 9.21) < 0.75
    assert abs(pol.xi_) < 0.1


def test_alert_budget_sets_the_rate() -> None:
    benign = np.random.default_rng(1).normal(size=20_000)
    pol = ThresholdPolicy(alerts_per_day=10, events_per_day=10_000).fit(benign)
    assert pol.fpr_ == pytest.approx(1e-3)
    fresh = np.random.default_rng(2).normal(size=200_000)
    assert 0.5e-3 < pol.verdict(fresh).mean() < 2e-3
    assert "10 alerts/day" in str(pol)


def test_large_fpr_uses_empirical_quantile() -> None:
    pol = ThresholdPolicy(target_fpr=0.2).fit(np.arange(1000.0))
    assert pol.method_ == "empirical quantile"
    assert pol.threshold_ == pytest.approx(799.2)


def test_round_trip_and_tail_probability() -> None:
    pol = ThresholdPolicy(target_fpr=1e-3).fit(np.random.default_rng(3).exponential(size=5000))
    again = ThresholdPolicy.from_dict(pol.to_dict())
    assert again.threshold_ == pol.threshold_
    p = pol.tail_probability(np.array([pol.threshold_]))
    assert p[0] == pytest.approx(1e-3, rel=1e-6)


def test_invalid_configurations() -> None:
    with pytest.raises(ConfigError):
        ThresholdPolicy().fit(np.arange(100.0))
    with pytest.raises(ConfigError):
        ThresholdPolicy(target_fpr=0.1, alerts_per_day=3).fit(np.arange(100.0))
    with pytest.raises(ConfigError):
        ThresholdPolicy(alerts_per_day=3).fit(np.arange(100.0))
    with pytest.raises(MirrorguardError):
        ThresholdPolicy(target_fpr=0.1).fit(np.arange(10.0))
    with pytest.raises(MirrorguardError):
        ThresholdPolicy(target_fpr=0.1).verdict(np.arange(3.0))
    assert "unfitted" in str(ThresholdPolicy(target_fpr=0.1))
