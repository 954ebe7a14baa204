"""Every detector in this part goes through the same conformance checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import numpy as np
import polars as pl
import pytest

from mirrorguard.detect.base import Detector
from mirrorguard.detect.ensemble import FlowAnomalyEnsemble
from mirrorguard.detect.hybrid import HybridDetector
from mirrorguard.detect.streaming import StreamingHistogram
from mirrorguard.detect.supervised import GradientBoostedDetector
from mirrorguard.testing import ConformanceError, check_detector

RNG = np.random.default_rng(0)
N = 400
X = pl.DataFrame({
    "bytes": RNG.lognormal(7, 1, N),
    "pkts": RNG.integers(1, 50, N).astype(float),
    "ratio": RNG.beta(2, 5, N),
    "proto": RNG.choice(["tcp", "udp", "icmp"], N),
})
Y = (X["ratio"].to_numpy() > 0.5).astype(int)

UNSUPERVISED: dict[str, Callable[[], Detector]] = {
    "ensemble": lambda: FlowAnomalyEnsemble(n_clusters=8, seed=3),
    "ensemble_ae": lambda: FlowAnomalyEnsemble(members=("autoencoder",), ae_epochs=2, seed=3),
    "streaming": StreamingHistogram,
}
SUPERVISED: dict[str, Callable[[], Detector]] = {
    "gbdt": lambda: GradientBoostedDetector(n_estimators=15, num_threads=1, seed=3),
    "hybrid": lambda: HybridDetector(n_estimators=15, members=("hbos", "ecod"),
                                     num_threads=1, seed=3),
}


@pytest.mark.parametrize("name", sorted(UNSUPERVISED))
def test_unsupervised_detectors_conform(name: str) -> None:
    passed = check_detector(UNSUPERVISED[name], X)
    assert "state_round_trip" in passed and "explain_rows" in passed


@pytest.mark.parametrize("name", sorted(SUPERVISED))
def test_supervised_detectors_conform(name: str) -> None:
    passed = check_detector(SUPERVISED[name], X, Y)
    assert len(passed) == 8


class _Mutating(Detector):
    name = "mutating"

    def __init__(self) -> None:
        pass

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        self.n_ = X.height
        return self

    def score(self, X: pl.DataFrame) -> np.ndarray:
        X.insert_column(0, pl.Series("oops", np.zeros(X.height)))
        return np.zeros(X.height)


class _Unseeded(_Mutating):
    def score(self, X: pl.DataFrame) -> np.ndarray:
        return np.random.default_rng().random(X.height)


class _ExtraSensitive(_Mutating):
    def score(self, X: pl.DataFrame) -> np.ndarray:
        return np.full(X.height, float(X.width))


@pytest.mark.parametrize(
    ("cls", "check"),
    [(_Mutating, "inputs_unchanged"), (_Unseeded, "seeded_identical"),
     (_ExtraSensitive, "extra_columns")],
)
def test_broken_detectors_are_caught(cls: type[Detector], check: str) -> None:
    with pytest.raises(ConformanceError) as info:
        check_detector(cls, X.clone())
    assert info.value.record == check
