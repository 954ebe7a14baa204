from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mirrorguard.features.transforms import NotFittedError, TabularTransformer

F = pl.DataFrame({
    "bytes": [10.0, 200.0, 3000.0, 40.0, None],
    "rate": [0.1, 0.2, 0.3, 0.4, 0.5],
    "proto": ["tcp", "udp", "tcp", "icmp", None],
    "label": [0, 1, 0, 0, 1],
})


def test_layout_log_and_scaling() -> None:
    t = TabularTransformer(exclude=["label"], min_frequency=0.3).fit(F)
    assert t.numeric_ == ["bytes", "rate"]  # log column first
    assert t.log_.tolist() == [True, False]
    assert t.feature_names_ == ["bytes", "rate", "proto=tcp", "proto=other", "proto.rarity"]
    Z = t.transform(F)
    assert Z.dtype == np.float64 and Z.flags.c_contiguous
    assert Z[:, 0].min() == pytest.approx(0.0) and Z[:4, 0].max() == pytest.approx(1.0)
    assert Z[:, 2:4].sum(axis=1).tolist() == [1.0] * 5


def test_unseen_missing_and_extra_columns() -> None:
    t = TabularTransformer(exclude=["label"]).fit(F)
    Z = t.transform(pl.DataFrame({"proto": ["gre"], "zzz": [1]}))
    assert Z.shape == (1, len(t.feature_names_))
    assert Z[0, t.feature_names_.index("proto=other")] == 1.0
    med = t.transform(pl.DataFrame({"bytes": [float(t.raw_median_[0])]}))
    np.testing.assert_allclose(Z[0, 0], med[0, 0])


def test_robust_scaling_and_float32() -> None:
    t = TabularTransformer(scaling="robust", dtype="float32", exclude=["label"]).fit(F)
    assert t.transform(F).dtype == np.float32


def test_state_round_trip_and_percentile() -> None:
    t = TabularTransformer(exclude=["label"]).fit(F)
    meta, arrays = t.get_state()
    again = TabularTransformer.from_state(meta, arrays)
    np.testing.assert_array_equal(again.transform(F), t.transform(F))
    assert t.percentile("rate", np.array([0.5, 0.05])).tolist() == [100.0, 0.0]
    assert t.baseline_values()["proto"] == "tcp"


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        TabularTransformer().transform(F)
    with pytest.raises(Exception, match="empty"):
        TabularTransformer().fit(F.head(0))


def test_split_and_layout_rebuild_the_matrix() -> None:
    t = TabularTransformer(exclude=["label"], min_frequency=0.3).fit(F)
    probe = pl.DataFrame({"bytes": [5.0, None], "proto": ["udp", "gre"]})
    A, codes = t.split(probe)
    assert A.shape == (2, 2) and codes.tolist() == [[1], [1]]  # udp falls in "other" here
    layout = t.layout()
    assert layout.width == len(t.feature_names_) and layout.numeric == 2
    np.testing.assert_array_equal(layout.expand(A, codes), t.transform(probe))
    rows = layout.code_matrix(0)
    assert rows.shape == (2, layout.width) and rows[:, 2:4].tolist() == [[1, 0], [0, 1]]


def test_float32_block_matches_float64() -> None:
    t64 = TabularTransformer(exclude=["label"]).fit(F)
    t32 = TabularTransformer(exclude=["label"], dtype="float32").fit(F)
    np.testing.assert_allclose(t32.transform(F), t64.transform(F), rtol=1e-6, atol=1e-6)
