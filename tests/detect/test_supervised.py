from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from tests.detect.flowdata import labelled

from mirrorguard.detect.supervised import GradientBoostedDetector
from mirrorguard.errors import MirrorguardError


@pytest.fixture(scope="module")
def fitted() -> GradientBoostedDetector:
    X, y = labelled()
    return GradientBoostedDetector(n_estimators=30, num_threads=1, seed=0).fit(X, y)


def test_calibrated_probabilities(fitted: GradientBoostedDetector) -> None:
    X, y = labelled(seed=10)
    p = fitted.score(X)
    assert ((p >= 0) & (p <= 1)).all()
    assert roc_auc_score(y, p) > 0.99
    assert np.all(np.diff(fitted.iso_y_) >= 0)  # isotonic map is monotone


def test_treeshap_contributions_are_exact(fitted: GradientBoostedDetector) -> None:
    X, _ = labelled(seed=11)
    Z = fitted.transformer_.transform(X[:20])
    _, contrib = fitted.feature_contributions(Z)
    full = fitted.booster_.predict(Z, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1) + full[:, -1], fitted.margin_matrix(Z),
                               atol=1e-6)


def test_explanations(fitted: GradientBoostedDetector) -> None:
    X, y = labelled(seed=12)
    rows = [int(i) for i in np.flatnonzero(y)[:2]]
    ex = fitted.explain(X, rows)
    assert len(ex) == 2 and "TreeSHAP" in ex[0].extra["method"]


def test_label_errors() -> None:
    X, y = labelled()
    with pytest.raises(MirrorguardError):
        GradientBoostedDetector().fit(X)
    with pytest.raises(MirrorguardError):
        GradientBoostedDetector().fit(X, np.zeros(X.height))
    with pytest.raises(MirrorguardError):
        GradientBoostedDetector().fit(X, np.full(X.height, 2))
    with pytest.raises(MirrorguardError):
        GradientBoostedDetector().fit(X.head(5), y)
    assert isinstance(X, pl.DataFrame)
