"""Supervised detection: gradient-boosted trees (LightGBM) with calibrated probabilities.

* Model: LightGBM (G. Ke et al., "LightGBM: A Highly Efficient Gradient Boosting Decision Tree",
  NeurIPS 2017), binary objective, deterministic seeded training.
* Calibration: isotonic regression (B. Zadrozny, C. Elkan, KDD 2002) fitted on *out-of-fold*
  margins from a stratified k-fold over the training set, so probabilities are not the
  over-confident in-sample ones; the final booster is trained on all rows. The isotonic map is
  stored as two arrays and applied with ``np.interp``.
* Explanations: LightGBM's native TreeSHAP (``pred_contrib=True``; S. Lundberg et al., "From
  local explanations to global understanding with explainable AI for trees", Nat. Mach. Intell.
  2020): exact per-feature contributions to the margin, summed per source feature.
* Persistence: the booster's text model plus arrays; no pickle.
* Threads: ``num_threads=1`` by default. On a loaded 2-core machine LightGBM's OpenMP workers
  spin; training 1,200 trees on 15k rows took 19 s with one thread and 297 s with two.

>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(0)
>>> X = pl.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
>>> y = (X["a"].to_numpy() > 0.5).astype(int)
>>> det = GradientBoostedDetector(n_estimators=20, seed=0).fit(X, y)
>>> p = det.score(pl.DataFrame({"a": [-2.0, 2.0], "b": [0.0, 0.0]}))
>>> bool(p[0] < 0.2 < 0.8 < p[1])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector, JSONValue
from mirrorguard.detect.common import check_fitted, strip_prefix, with_prefix
from mirrorguard.errors import MirrorguardError
from mirrorguard.explain.attribution import build_explanations, group_columns
from mirrorguard.features.transforms import TabularTransformer
from mirrorguard.schema.alerts import Explanation


def _labels(y: np.ndarray | None, n: int) -> np.ndarray:
    if y is None:
        raise MirrorguardError("supervised detectors need labels y (1 = malicious)")
    arr = np.asarray(y).astype(np.int64)
    if arr.shape != (n,) or not np.isin(arr, (0, 1)).all():
        raise MirrorguardError(f"labels must be 0/1 of shape ({n},)")
    if arr.min() == arr.max():
        raise MirrorguardError("labels contain a single class; need benign and malicious rows")
    return arr


class GradientBoostedDetector(Detector):
    """LightGBM binary classifier; ``score`` returns calibrated P(malicious)."""

    name = "gbdt"

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        calibration_folds: int = 3,
        num_threads: int = 1,
        categorical: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration_folds = calibration_folds
        self.num_threads = num_threads
        self.categorical = categorical
        self.exclude = exclude
        self.seed = seed

    def _lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "binary", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_child_samples": self.min_child_samples,
            "seed": self.seed, "deterministic": True, "force_col_wise": True,
            "num_threads": self.num_threads, "verbosity": -1,
        }

    def _train(self, Z: np.ndarray, y: np.ndarray) -> Any:
        import lightgbm as lgb

        data = lgb.Dataset(Z, label=y, params={"verbosity": -1})
        return lgb.train(self._lgb_params(), data, num_boost_round=self.n_estimators)

    def _oof_margins(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        from sklearn.model_selection import StratifiedKFold

        folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=self.seed)
        oof = np.zeros(Z.shape[0])
        for train, test in folds.split(Z, y):
            oof[test] = self._train(Z[train], y[train]).predict(Z[test], raw_score=True)
        return oof

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        from sklearn.isotonic import IsotonicRegression

        labels = _labels(y, X.height)
        tf = TabularTransformer(categorical=self.categorical, exclude=self.exclude).fit(X)
        Z = tf.transform(X)
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(self._oof_margins(Z, labels), labels)
        self.transformer_ = tf
        self.iso_x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
        self.iso_y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        self.booster_ = self._train(Z, labels)
        return self

    def margin_matrix(self, Z: np.ndarray) -> np.ndarray:
        """Raw boosted margins (log-odds before calibration) of a transformed matrix."""
        check_fitted(self, "booster_")
        return np.asarray(self.booster_.predict(Z, raw_score=True), dtype=np.float64)

    def calibrate(self, margins: np.ndarray) -> np.ndarray:
        """Isotonic map from margins to probabilities."""
        return np.asarray(np.interp(margins, self.iso_x_, self.iso_y_), dtype=np.float64)

    def score(self, X: pl.DataFrame) -> np.ndarray:
        check_fitted(self, "booster_")
        return self.calibrate(self.margin_matrix(self.transformer_.transform(X)))

    def feature_contributions(self, Z: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Exact TreeSHAP contributions to the margin, summed per source feature."""
        check_fitted(self, "booster_")
        contrib = np.asarray(self.booster_.predict(Z, pred_contrib=True), dtype=np.float64)
        return group_columns(contrib[:, :-1], self.transformer_.groups_)

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        check_fitted(self, "booster_")
        idx = pl.Series("i", list(rows), dtype=pl.Int64)
        Z = self.transformer_.transform(X[idx])
        feats, contrib = self.feature_contributions(Z)
        return build_explanations(
            X, rows, feats, contrib, self.transformer_, self.calibrate(self.margin_matrix(Z)),
            method="LightGBM TreeSHAP (pred_contrib)",
        )

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "booster_")
        tf_meta, tf_arrays = self.transformer_.get_state()
        arrays = {**with_prefix("tf", tf_arrays), "iso_x": self.iso_x_, "iso_y": self.iso_y_}
        return {"transformer": tf_meta, "booster": self.booster_.model_to_string()}, arrays

    @classmethod
    def from_state(
        cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
        arrays: dict[str, np.ndarray],
    ) -> Self:
        import lightgbm as lgb

        self = cls(**params)
        self.transformer_ = TabularTransformer.from_state(
            meta["transformer"], strip_prefix("tf", arrays)
        )
        self.iso_x_ = np.asarray(arrays["iso_x"], dtype=np.float64)
        self.iso_y_ = np.asarray(arrays["iso_y"], dtype=np.float64)
        self.booster_ = lgb.Booster(model_str=str(meta["booster"]))
        return self
