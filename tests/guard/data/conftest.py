"""Fixtures for the training-data guard tests: small synthetic sets and small real samples."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.bench.datasets import Tabular, load_nsl_kdd


def blobs(n: int = 400, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    """Two well separated classes with a categorical column."""
    rng = np.random.default_rng(seed)
    half = n // 2
    X = pl.DataFrame({
        "a": np.r_[rng.normal(0, 1, half), rng.normal(5, 1, half)],
        "b": np.r_[rng.lognormal(3, 0.5, half), rng.lognormal(7, 0.5, half)],
        "proto": rng.choice(["tcp", "udp"], n).tolist(),
        "c": rng.integers(0, 6, n).astype(float),
    })
    return X, np.r_[np.zeros(half, dtype=np.int64), np.ones(half, dtype=np.int64)]


@pytest.fixture(scope="session")
def nsl_small() -> tuple[pl.DataFrame, np.ndarray]:
    """A seeded 2,000-row sample of KDDTrain+ (binary labels)."""
    tab: Tabular = load_nsl_kdd(need_data("nsl_kdd"), "KDDTrain+")
    idx = np.sort(np.random.default_rng(3).choice(len(tab.y), 2000, replace=False))
    return tab.X[idx], tab.y[idx].astype(np.int64)
