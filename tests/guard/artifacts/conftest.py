"""Fixtures for the model-artifact tests: keys, a tiny real detector, and one saved model of
every type the project saves (detector arrays+JSON, LightGBM text, IsolationForest arrays)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import IsolationForest

from mirrorguard.detect.base import Detector
from mirrorguard.guard.artifacts.canonical import fingerprint_frame
from mirrorguard.guard.artifacts.detector_io import save_detector
from mirrorguard.guard.artifacts.iforest import save_isolation_forest
from mirrorguard.guard.artifacts.lightgbm_io import save_lightgbm
from mirrorguard.guard.artifacts.manifest import Lineage
from mirrorguard.guard.keys import Signer, Verifier, generate_keypair


class RobustZ(Detector):
    """Median/MAD z-score detector: a small but real detector for save/load tests."""

    name = "robust_z"

    def __init__(self, columns: list[str] | None = None, clip: float = 50.0) -> None:
        self.columns = columns
        self.clip = clip

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        cols = self.columns or X.columns
        data = X.select(cols).to_numpy()
        self.columns_ = list(cols)
        self.median_ = np.median(data, axis=0)
        self.mad_ = np.median(np.abs(data - self.median_), axis=0) + 1e-9
        return self

    def score(self, X: pl.DataFrame) -> np.ndarray:
        z = np.abs(X.select(self.columns_).to_numpy() - self.median_) / self.mad_
        out: np.ndarray = np.minimum(z, self.clip).max(axis=1)
        return out

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"columns": self.columns_}, {"median": self.median_, "mad": self.mad_}

    @classmethod
    def from_state(cls, params: dict[str, Any], meta: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Self:
        det = cls(**params)
        det.columns_ = list(meta["columns"])
        det.median_ = arrays["median"]
        det.mad_ = arrays["mad"]
        return det


CLASSES: dict[str, type[Detector]] = {"robust_z": RobustZ}


def make_builders(table: tuple[pl.DataFrame, np.ndarray]
              ) -> dict[str, Callable[[Path, Signer], Any]]:
    df, y = table
    lineage = Lineage(fingerprint_frame(df, "synthetic"), ("ingest-1",), None)

    def detector(path: Path, signer: Signer) -> Any:
        det = RobustZ(clip=20.0).fit(df)
        save_detector(det, path, signer, lineage, metrics={"auc": 0.5})
        return det

    def gbm(path: Path, signer: Signer) -> Any:
        booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7,
                             "num_threads": 1}, lgb.Dataset(df.to_numpy(), y),
                            num_boost_round=8)
        save_lightgbm(booster, path, signer, lineage, name="gbm", metrics={"auc": 0.9})
        return booster

    def forest(path: Path, signer: Signer) -> Any:
        model = IsolationForest(n_estimators=15, random_state=0).fit(df.to_numpy())
        save_isolation_forest(model, path, signer, lineage, name="iforest",
                              metrics={"auc": 0.7, "alerts_per_day": 12})
        return model

    return {"detector": detector, "lightgbm": gbm, "isolation_forest": forest}


@pytest.fixture(scope="session")
def keys() -> tuple[Signer, Verifier]:
    priv, pub = generate_keypair()
    return Signer(priv), Verifier(pub)


@pytest.fixture(scope="session")
def other_keys() -> tuple[Signer, Verifier]:
    priv, pub = generate_keypair()
    return Signer(priv), Verifier(pub)


@pytest.fixture(scope="session")
def table() -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return pl.DataFrame(X, schema=["a", "b", "c", "d"]), y


@pytest.fixture(scope="session")
def builders(table: tuple[pl.DataFrame, np.ndarray]) -> dict[str, Callable[[Path, Signer], Any]]:
    return make_builders(table)


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Signer, Verifier],
                 builders: dict[str, Callable[[Path, Signer], Any]]
                 ) -> dict[str, tuple[Path, Any]]:
    """kind -> (pristine model directory, the in-memory model it was saved from)."""
    root = tmp_path_factory.mktemp("models")
    return {kind: (root / kind, build(root / kind, keys[0])) for kind, build in builders.items()}


@pytest.fixture(scope="session")
def classes() -> dict[str, type[Detector]]:
    """The explicit detector class registry used to load saved detectors."""
    return dict(CLASSES)


@pytest.fixture(scope="session")
def detector_cls() -> type[RobustZ]:
    return RobustZ
