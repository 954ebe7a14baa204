from __future__ import annotations

import numpy as np
import polars as pl

from mirrorguard.guard.data import hygiene
from mirrorguard.guard.data.prep import TabularEncoder

from .conftest import blobs


def test_duplicates_and_near() -> None:
    X = pl.DataFrame({"a": [1.0, 1.0, 2.0, 2.0, 3.0], "b": ["x", "x", "y", "y", "z"]})
    dup, conflict = hygiene.duplicates(X, np.array([0, 0, 0, 1, 1]))
    assert dup.tolist() == [True, True, True, True, False]
    assert conflict.tolist() == [False, False, True, True, False]
    near = hygiene.near_duplicates(np.array([0.0, 0.0, 0.0, 0.0, 1e-4]), dup)
    assert near.tolist() == [False, False, False, False, True]


def test_leakage_exact_and_near() -> None:
    X, _ = blobs(200)
    enc = TabularEncoder().fit(X)
    test = pl.concat([X.head(10), X.tail(5).with_columns(pl.col("a") + 50.0)])
    leak = hygiene.leakage(X, test, enc)
    assert leak["exact_in_train"] == 10 and leak["exact_rows"].tolist() == list(range(10))
    assert abs(leak["near_share"] - 10 / 15) < 1e-9


def test_shift_is_seen_only_when_there() -> None:
    X, _ = blobs(600, seed=1)
    same, _ = blobs(600, seed=2)
    moved = same.with_columns(pl.col("a") + 3.0)
    enc = TabularEncoder().fit(X)
    cat = enc.categorical_index
    assert hygiene.domain_auc(enc.tree(X), enc.tree(same), cat) < 0.65
    assert hygiene.domain_auc(enc.tree(X), enc.tree(moved), cat) > 0.9
    cols = hygiene.column_shift(X, moved, enc)
    assert cols["column"][0] == "a" and set(cols["test"]) == {"ks", "tvd"}
