from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mirrorguard.errors import SchemaError
from mirrorguard.guard.data.prep import TabularEncoder, encode_labels, signed_log1p


def test_encoder_kinds_and_unseen_category() -> None:
    X = pl.DataFrame({"n": [1.0, 2.0, None, 1000.0], "s": ["a", "b", "a", None]})
    enc = TabularEncoder(max_levels=1).fit(X)
    assert enc.numeric_ == ["n"] and enc.categorical_ == ["s"]
    tree = enc.tree(pl.DataFrame({"n": [5.0], "s": ["zzz"]}))
    assert tree.shape == (1, 2) and tree[0, 1] == 1.0  # "other" code after the one level
    dense = enc.dense(X)
    assert dense.shape == (4, 1 + 2) and dense.dtype == np.float32
    assert np.isfinite(dense).all() and np.abs(dense).max() <= enc.clip
    assert enc.dense_names() == ["n", "s=a", "s=(other)"]


def test_encoder_refuses_missing_columns_and_empty() -> None:
    enc = TabularEncoder().fit(pl.DataFrame({"n": [1, 2], "m": [3, 4]}))
    with pytest.raises(SchemaError):
        enc.dense(pl.DataFrame({"n": [1]}))
    with pytest.raises(SchemaError):
        TabularEncoder().fit(pl.DataFrame())


def test_labels_and_log() -> None:
    codes, names = encode_labels(np.array(["normal", "dos", "normal"]))
    assert names == ["dos", "normal"] and codes.tolist() == [1, 0, 1]
    with pytest.raises(SchemaError):
        encode_labels(np.array([1, 1, 1]))
    assert signed_log1p(np.array([-9.0, 0.0, 9.0])).tolist() == pytest.approx(
        [-np.log(10), 0.0, np.log(10)])
