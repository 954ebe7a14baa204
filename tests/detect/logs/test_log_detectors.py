"""Log-session detectors: separation, explanations, JSON+array state without pickle."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mirrorguard.detect.base import Detector
from mirrorguard.detect.logs import (
    CountIsolationForest,
    NewParameterValue,
    NextTemplateModel,
    NgramNovelty,
    PCAResidual,
    RareTemplate,
)
from mirrorguard.detect.logs._common import NotFittedError

RNG = np.random.default_rng(7)


def _normal(n: int) -> list[list[int]]:
    out = []
    for _ in range(n):
        k = int(RNG.integers(1, 4))
        out.append([5, 22, 5, 5] + [11, 9] * k + [26] * k)
    return out


TRAIN = pl.DataFrame({"templates": _normal(300)})
TEST = pl.DataFrame({"templates": [
    [5, 22, 5, 5, 11, 9, 26],               # normal
    [5, 22, 5, 5, 11, 9, 11, 9, 26, 26],     # normal
    [5, 22, 5, 5, 11, 9, 99, 26],           # unseen template
    [5, 22, 5, 5, 26, 9, 11],               # out of order
    [5, 22, 5, 5, 11, 9, 11, 9, 11, 9, 11, 9, 11, 9, 11, 9, 26, 26, 26, 26, 26, 26, 26, 26,
     26, 26, 26, 26, 26],                    # unusual counts
]})

DETECTORS = [NgramNovelty(n=3), NextTemplateModel(history=2), PCAResidual(),
             CountIsolationForest(n_estimators=30), RareTemplate()]


@pytest.mark.parametrize("det", [d for d in DETECTORS if not isinstance(d, CountIsolationForest)],
                         ids=lambda d: type(d).__name__)
def test_unseen_template_scores_above_normal(det: Detector) -> None:
    scores = det.fit(TRAIN).score(TEST)
    assert scores.dtype == np.float64 and scores.shape == (5,)
    assert scores[2] > max(scores[0], scores[1])


@pytest.mark.parametrize("det", [NgramNovelty(n=3), NextTemplateModel(history=2)],
                         ids=lambda d: type(d).__name__)
def test_sequence_detectors_catch_reordering(det: Detector) -> None:
    scores = det.fit(TRAIN).score(TEST)
    assert scores[3] > max(scores[0], scores[1])


def test_pca_catches_unusual_counts() -> None:
    # (the isolation forest is only checked against scikit-learn below: a constant training
    # column hides unseen templates from it, and counts beyond the training range isolate no
    # faster than the range's own edges)
    scores = PCAResidual().fit(TRAIN).score(TEST)
    assert scores[4] > max(scores[0], scores[1])


@pytest.mark.parametrize("det", DETECTORS, ids=lambda d: type(d).__name__)
def test_state_round_trip_is_plain_data(det: Detector) -> None:
    det.fit(TRAIN)
    meta, arrays = det.get_state()
    json.dumps(meta)
    assert all(a.dtype != object for a in arrays.values())
    again = type(det).from_state(det.get_params(), json.loads(json.dumps(meta)), arrays)
    assert np.array_equal(again.score(TEST), det.score(TEST))


def test_explanations_name_template_position_and_rarity() -> None:
    seq = NextTemplateModel(history=2).fit(TRAIN).explain(TEST, [2])[0]
    assert "99" in seq.text and "event 6" in seq.text
    assert seq.contributions[0].value == "99"
    rare = RareTemplate().fit(TRAIN).explain(TEST, [2])[0]
    assert "template 99 at event 6 was seen 0 times" in rare.text
    ngram = NgramNovelty(n=3).fit(TRAIN).explain(TEST, [3])[0]
    assert ngram.extra["unseen_positions"]
    pca = PCAResidual().fit(TRAIN).explain(TEST, [4])[0]
    assert pca.contributions and pca.contributions[0].feature.startswith("template")


def test_iforest_matches_scikit_learn() -> None:
    from sklearn.ensemble import IsolationForest

    from mirrorguard.features.sessions import count_matrix

    det = CountIsolationForest(n_estimators=20, seed=3).fit(TRAIN)
    counts = count_matrix(TRAIN["templates"], det.vocabulary_)
    ref = IsolationForest(n_estimators=20, max_samples=256, random_state=3).fit(counts)
    test_counts = count_matrix(TEST["templates"], det.vocabulary_)
    assert np.allclose(det.score(TEST), -ref.score_samples(test_counts))


def test_new_parameter_values() -> None:
    train = pl.DataFrame({"template_id": [1] * 4 + [2] * 60,
                          "parameters": [["root"], ["root"], ["admin"], ["root"]]
                          + [[str(i)] for i in range(60)]})
    det = NewParameterValue(max_distinct=10).fit(train)
    test = pl.DataFrame({"template_id": [1, 1, 2], "parameters": [["root"], ["mallory"], ["999"]]})
    assert det.score(test).tolist() == [0.0, 1.0, 0.0]  # template 2's slot is free-form
    assert "1 parameter value" in det.explain(test, [1])[0].text
    meta, arrays = det.get_state()
    again = NewParameterValue.from_state(det.get_params(), json.loads(json.dumps(meta)), arrays)
    assert again.score(test).tolist() == [0.0, 1.0, 0.0]


def test_unfitted_detector_raises() -> None:
    with pytest.raises(NotFittedError):
        NextTemplateModel().score(TEST)
