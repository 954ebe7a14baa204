from __future__ import annotations

import numpy as np
import polars as pl

from mirrorguard.explain.attribution import build_explanations, group_columns
from mirrorguard.explain.fidelity import deletion_fidelity
from mirrorguard.features.transforms import TabularTransformer


def test_group_columns_sums_one_hot_blocks() -> None:
    names, g = group_columns(np.array([[1.0, 2.0, 3.0, 4.0]]), ["a", "p", "p", "b"])
    assert names == ["a", "p", "b"]
    assert g.tolist() == [[1.0, 5.0, 4.0]]


def test_build_explanations_top_features_and_text() -> None:
    X = pl.DataFrame({"bytes": [100.0, 200.0, 9e6], "proto": ["tcp", "tcp", "gre"]})
    tf = TabularTransformer().fit(X.head(2))
    contrib = np.array([[0.1, 2.0], [3.0, 0.5]])
    ex = build_explanations(X, [2, 0], ["bytes", "proto"], contrib, tf, np.array([9.0, 1.0]))
    assert [c.feature for c in ex[0].contributions] == ["proto", "bytes"]
    assert ex[0].text.startswith("score 9: proto 'gre' (usually 'tcp')")
    assert ex[1].contributions[0].value == 100.0
    assert build_explanations(X, [], ["bytes"], np.zeros((0, 1)), tf, np.zeros(0)) == []


def test_deletion_fidelity_separates_faithful_from_random() -> None:
    rng = np.random.default_rng(0)
    Z = rng.exponential(size=(500, 10))
    groups = [f"f{i}" for i in range(10)]

    def score(M: np.ndarray) -> np.ndarray:
        return np.asarray(M.sum(axis=1))

    def faithful(M: np.ndarray) -> tuple[list[str], np.ndarray]:
        return groups, M.copy()

    def shuffled(M: np.ndarray) -> tuple[list[str], np.ndarray]:
        return groups, rng.random(M.shape)

    base = np.zeros(10)
    assert deletion_fidelity(score, faithful, Z, groups, base) > 0.95
    assert 0.3 < deletion_fidelity(score, shuffled, Z, groups, base) < 0.7
