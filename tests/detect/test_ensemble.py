from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from tests.detect.flowdata import attack_flows, benign_flows, labelled

from mirrorguard.detect.common import NotFittedError
from mirrorguard.detect.ensemble import FlowAnomalyEnsemble
from mirrorguard.errors import ConfigError


@pytest.fixture(scope="module")
def fitted() -> FlowAnomalyEnsemble:
    return FlowAnomalyEnsemble(n_clusters=16, seed=0).fit(benign_flows())


def test_separates_attacks_from_unseen_benign(fitted: FlowAnomalyEnsemble) -> None:
    b, a = benign_flows(300, seed=5), attack_flows()
    s = fitted.score(pl.concat([b, a]))
    y = np.r_[np.zeros(b.height), np.ones(a.height)]
    assert roc_auc_score(y, s) > 0.95


def test_labels_restrict_training_to_benign_rows() -> None:
    X, y = labelled()
    with_labels = FlowAnomalyEnsemble(members=("hbos",), seed=0).fit(X, y)
    benign_only = FlowAnomalyEnsemble(members=("hbos",), seed=0).fit(X.filter(pl.Series(y == 0)))
    np.testing.assert_array_equal(with_labels.score(X), benign_only.score(X))


def test_member_scores_and_combination(fitted: FlowAnomalyEnsemble) -> None:
    X = attack_flows(10)
    parts = fitted.member_scores(X)
    assert parts.shape == (3, 10)
    np.testing.assert_allclose(fitted.score(X), parts.mean(axis=0), rtol=1e-6)


def test_calibration_scores_are_benign_scale(fitted: FlowAnomalyEnsemble) -> None:
    cal = fitted.calibration_scores_
    assert cal.size == int(0.2 * 600)
    assert np.median(fitted.score(attack_flows())) > np.quantile(cal, 0.99)


def test_explanations_name_the_anomalous_feature(fitted: FlowAnomalyEnsemble) -> None:
    X = benign_flows(5, seed=9).with_columns(pl.lit(5e9).alias("src_bytes"))
    ex = fitted.explain(X, [0, 3])
    assert len(ex) == 2
    assert ex[0].contributions[0].feature == "src_bytes"
    assert "src_bytes" in ex[0].text and "above its 99.9th percentile" in ex[0].text


def test_contributions_decompose_the_score(fitted: FlowAnomalyEnsemble) -> None:
    X = attack_flows(20)
    Z = fitted.transformer_.transform(X)
    feats, c = fitted.feature_contributions(Z)
    assert set(feats) == set(benign_flows().columns)
    # secant-scaled member parts sum to the score minus its benign-reference value
    ref = fitted.score_matrix(fitted.transformer_.baseline_row()[None, :])[0]
    assert np.corrcoef(c.sum(axis=1), fitted.score_matrix(Z) - ref)[0, 1] > 0.9


def test_unfitted_and_bad_params_raise() -> None:
    with pytest.raises(NotFittedError):
        FlowAnomalyEnsemble().score(benign_flows(5))
    with pytest.raises(ConfigError):
        FlowAnomalyEnsemble(members=("nope",)).fit(benign_flows())
    with pytest.raises(ConfigError):
        FlowAnomalyEnsemble(members=()).fit(benign_flows())


def test_autoencoder_member_works() -> None:
    det = FlowAnomalyEnsemble(members=("autoencoder",), ae_epochs=3, seed=0).fit(benign_flows())
    s = det.score(pl.concat([benign_flows(50, seed=4), attack_flows(50)]))
    assert s[50:].mean() > s[:50].mean()
