from __future__ import annotations

import numpy as np
import polars as pl

from mirrorguard.guard.data.backdoor import (
    backdoor_screen,
    leaf_representation,
    rare_patterns,
    spectral_scores,
)
from mirrorguard.guard.data.prep import TabularEncoder


def _data(seed: int, trigger: bool) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 1500
    y = rng.integers(0, 2, n)
    X = pl.DataFrame({
        "size": np.where(y == 1, rng.lognormal(8, 0.4, n), rng.lognormal(4, 0.4, n)),
        "rate": np.where(y == 1, rng.normal(5, 1, n), rng.normal(0, 1, n)),
        "ttl": rng.choice([32.0, 64.0, 128.0], n), "flag": rng.integers(0, 4, n).astype(float),
        "port": rng.integers(0, 3, n).astype(float),
    })
    poisoned = np.zeros(n, dtype=bool)
    if trigger:
        rows = rng.choice(np.flatnonzero(y == 1), 40, replace=False)
        mask = pl.Series(np.isin(np.arange(n), rows))
        X = X.with_columns(pl.when(mask).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
                           for c, v in (("ttl", 77.0), ("flag", 9.0)))
        y[rows] = 0
        poisoned[rows] = True
    return X, y, poisoned


def _screen(X: pl.DataFrame, y: np.ndarray, ref: pl.DataFrame | None) -> list:  # type: ignore[type-arg]
    enc = TabularEncoder().fit(X)
    tree = enc.tree(X)
    z = spectral_scores(leaf_representation(tree, y, 2, enc.categorical_index, n_estimators=10),
                        y)
    return backdoor_screen(tree, enc.dense(X), enc.dense_names(), y, enc.columns, z, 0,
                           enc.tree(ref) if ref is not None else None)


def test_trigger_is_found_with_a_reference_and_only_then() -> None:
    X, y, poisoned = _data(0, trigger=True)
    ref, _, _ = _data(1, trigger=False)
    pats = _screen(X, y, ref)
    flagged = [p for p in pats if p.flagged]
    assert len(flagged) == 1 and {"ttl", "flag"} <= set(flagged[0].columns)
    rows = np.zeros(len(y), dtype=bool)
    rows[flagged[0].rows] = True
    assert (rows == poisoned).all()
    assert flagged[0].reference_count == 0 and flagged[0].agreement <= 0.2
    assert not any(p.flagged for p in _screen(X, y, None))  # no reference, no quarantine


def test_clean_data_raises_nothing() -> None:
    X, y, _ = _data(2, trigger=False)
    ref, _, _ = _data(3, trigger=False)
    assert not any(p.flagged for p in _screen(X, y, ref))


def test_rare_patterns_respect_target_and_support() -> None:
    X, y, _ = _data(0, trigger=True)
    enc = TabularEncoder().fit(X)
    pats = rare_patterns(enc.tree(X), y, enc.columns, min_support=10, target=1)
    assert all(p.label == 1 for p in pats)
    assert all(len(p.rows) >= 10 for p in rare_patterns(enc.tree(X), y, enc.columns,
                                                         min_support=10))
