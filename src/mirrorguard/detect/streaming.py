"""Streaming anomaly detection: histograms that keep learning from micro-batches.

:class:`StreamingHistogram` is the online variant of the ensemble's HBOS member (Goldstein &
Dengel, KI 2012): bins are fixed at ``fit`` (from the initial benign frame); per-bin counts are
exponentially decayed and updated with every batch passed to :meth:`learn`, so the baseline
follows slow legitimate drift. It never learns from what it flags: use
:meth:`~mirrorguard.detect.base.OnlineDetector.score_then_learn` with the policy's threshold,
which only feeds rows scoring below it back into :meth:`learn` (River's
``ThresholdFilter(protect_anomaly_detector=True)`` rule).

>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(0)
>>> det = StreamingHistogram().fit(pl.DataFrame({"x": rng.normal(size=1000)}))
>>> s = det.score_then_learn(pl.DataFrame({"x": [0.1, 50.0]}), threshold=10.0)
>>> bool(s[1] > s[0]), det.n_learned_
(True, 991.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import JSONValue, OnlineDetector
from mirrorguard.detect.common import benign_mask, check_fitted, strip_prefix, with_prefix
from mirrorguard.detect.members import _Bins
from mirrorguard.errors import ConfigError
from mirrorguard.explain.attribution import build_explanations, group_columns
from mirrorguard.features.transforms import TabularTransformer
from mirrorguard.schema.alerts import Explanation


class StreamingHistogram(OnlineDetector):
    """Online HBOS with exponentially decayed bin counts (``decay`` per learned batch)."""

    name = "streaming_hbos"

    def __init__(
        self,
        n_bins: int = 64,
        alpha: float = 0.5,
        decay: float = 0.99,
        categorical: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
    ) -> None:
        self.n_bins = n_bins
        self.alpha = alpha
        self.decay = decay
        self.categorical = categorical
        self.exclude = exclude

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        """Fix bins and start counts from the benign rows of ``X``."""
        if not 0.0 < self.decay <= 1.0:
            raise ConfigError(f"decay must be in (0, 1], got {self.decay}")
        benign = X.filter(pl.Series(benign_mask(X.height, y)))
        self.transformer_ = TabularTransformer(
            categorical=self.categorical, exclude=self.exclude
        ).fit(benign)
        Z = self.transformer_.transform(benign)
        self.bins_ = _Bins.fit(Z, self.n_bins)
        self.counts_ = self.bins_.counts(Z)
        self.n_learned_ = float(benign.height)
        return self

    def learn(self, X: pl.DataFrame) -> Self:
        """Decay the counts once and add this batch (rows the caller believes benign)."""
        check_fitted(self, "counts_")
        if X.height == 0:
            return self
        Z = self.transformer_.transform(X)
        self.counts_ = self.decay * self.counts_ + self.bins_.counts(Z)
        self.n_learned_ = self.decay * self.n_learned_ + X.height
        return self

    def _table(self) -> np.ndarray:
        n = self.counts_.sum(axis=1, keepdims=True)
        freq = (self.counts_ + self.alpha) / (n + self.alpha * self.counts_.shape[1])
        return np.asarray(-np.log(freq), dtype=np.float64)

    def _contributions(self, Z: np.ndarray) -> np.ndarray:
        vals, out, over = self.bins_.lookup(self._table(), Z)
        flat = vals.ravel()
        flat[out] += np.log1p(over)
        return vals

    def score(self, X: pl.DataFrame) -> np.ndarray:
        check_fitted(self, "counts_")
        Z = self.transformer_.transform(X)
        return np.asarray(self._contributions(Z).sum(axis=1), dtype=np.float64)

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        check_fitted(self, "counts_")
        Z = self.transformer_.transform(X[pl.Series("i", list(rows), dtype=pl.Int64)])
        c = self._contributions(Z)
        ref = self._contributions(self.transformer_.baseline_row()[None, :])
        feats, g = group_columns(c - ref, self.transformer_.groups_)
        return build_explanations(
            X, rows, feats, g, self.transformer_, c.sum(axis=1), method="streaming HBOS"
        )

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "counts_")
        tf_meta, tf_arrays = self.transformer_.get_state()
        arrays = {**with_prefix("tf", tf_arrays), **self.bins_.state(), "counts": self.counts_}
        return {"transformer": tf_meta, "n_learned": self.n_learned_}, arrays

    @classmethod
    def from_state(
        cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
        arrays: dict[str, np.ndarray],
    ) -> Self:
        self = cls(**params)
        self.transformer_ = TabularTransformer.from_state(
            meta["transformer"], strip_prefix("tf", arrays)
        )
        self.bins_ = _Bins(arrays["lo"], arrays["width"], self.n_bins)
        self.counts_ = np.asarray(arrays["counts"], dtype=np.float64)
        self.n_learned_ = float(meta["n_learned"])
        return self
