"""Matrix-level anomaly scorers: the fast members of :class:`~.ensemble.FlowAnomalyEnsemble`.

Each member works on the transformed feature matrix ``Z`` (see
:class:`mirrorguard.features.transforms.TabularTransformer`) and has an *additive* score: the
raw score of a row is the sum over columns of :meth:`MatrixScorer.contributions`. That makes
per-feature explanations exact for every member and lets the ensemble explain its combined score.

Members (all NumPy, vectorised over the whole batch):

* :class:`HistogramScorer` — HBOS, histogram-based outlier score (M. Goldstein, A. Dengel,
  "Histogram-based Outlier Score (HBOS)", KI 2012): ``-log`` of the per-feature histogram
  frequency, with a distance penalty beyond the fitted range.
* :class:`TailScorer` — ECOD-style empirical-CDF tail probabilities (Z. Li et al., "ECOD:
  Unsupervised Outlier Detection Using Empirical Cumulative Distribution Functions", IEEE TKDE
  2022; COPOD, ICDM 2020), two-sided per feature and read from the same binned grid.
* :class:`AutoencoderScorer` — a small tied-depth MLP autoencoder trained with Adam in NumPy;
  per-feature squared reconstruction error (Sakurada & Yairi, MLSDA 2014).
* :class:`CentroidScorer` — squared distance to the nearest k-means centroid of benign data
  (a compressed k-nearest-neighbour distance; Lloyd's k-means via scikit-learn).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np

State = tuple[dict[str, Any], dict[str, np.ndarray]]


class MatrixScorer(ABC):
    """An additive anomaly scorer over a dense matrix (higher = more anomalous)."""

    kind: ClassVar[str]

    @abstractmethod
    def fit(self, Z: np.ndarray, seed: int) -> Self:
        """Learn from benign rows ``Z``."""

    @abstractmethod
    def contributions(self, Z: np.ndarray) -> np.ndarray:
        """Per-column parts of the raw score, shape ``Z.shape``."""

    def score(self, Z: np.ndarray, cache: dict[Any, Any] | None = None) -> np.ndarray:
        """Raw scores: the row sums of :meth:`contributions` (``cache`` shares work)."""
        return np.asarray(self.contributions(Z).sum(axis=1), dtype=np.float64)

    @abstractmethod
    def get_state(self) -> State:
        """(JSON metadata, arrays)."""

    @classmethod
    @abstractmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        """Rebuild from :meth:`get_state`."""


class _Bins:
    """Equal-width bins per column with one extra bin on each side for out-of-range values."""

    def __init__(self, lo: np.ndarray, width: np.ndarray, n_bins: int) -> None:
        self.lo, self.width, self.n_bins = lo, width, n_bins
        self.key = (n_bins, np.asarray(lo).tobytes(), np.asarray(width).tobytes())

    @classmethod
    def fit(cls, Z: np.ndarray, n_bins: int) -> _Bins:
        lo, hi = Z.min(axis=0).astype(np.float64), Z.max(axis=0).astype(np.float64)
        # a hair wider than the range, so the fitted maximum falls in the last inner bin
        width = np.where(hi > lo, (hi - lo) * (1.0 + 1e-9) / n_bins, 1.0)
        return cls(lo, width, n_bins)

    def _flat_position(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions shifted into the flat table: column ``j`` owns ``[j(B+2), (j+1)(B+2))``.

        Returns (positions, per-column offsets). In-range values lie in ``[off + 1, off + B + 1)``.
        """
        nb = self.n_bins + 2
        off = (np.arange(Z.shape[1]) * nb).astype(Z.dtype)
        inv = 1.0 / self.width
        shift = (off + 1.0 - self.lo * inv).astype(Z.dtype)
        pos = Z * inv.astype(Z.dtype)
        pos += shift
        return pos, off

    def counts(self, Z: np.ndarray) -> np.ndarray:
        """Per-column counts over the ``n_bins + 2`` bins, shape ``(d, n_bins + 2)``."""
        d, nb = Z.shape[1], self.n_bins + 2
        idx, _, _ = self._locate(Z)
        return np.bincount(idx.ravel(), minlength=d * nb).reshape(d, nb).astype(np.float64)

    def _locate(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat bin indices, flat positions of out-of-range cells, and their overshoot.

        Bin 0 of a column is "below the fitted range", bin ``B + 1`` "above"; the overshoot is
        how many bin widths an out-of-range cell lies outside the range.
        """
        pos, off = self._flat_position(Z)
        b = self.n_bins
        outside = (pos < off + 1.0) | (pos >= off + (b + 1.0))
        out = np.flatnonzero(outside)
        p_out = pos.ravel()[out] - off[out % Z.shape[1]]
        over = np.maximum(1.0 - p_out, 0.0) + np.maximum(p_out - (b + 1.0), 0.0)
        np.maximum(pos, off, out=pos)
        np.minimum(pos, off + (b + 1.0), out=pos)
        return pos.astype(np.intp), out, over.astype(np.float64)

    def lookup(
        self, table: np.ndarray, Z: np.ndarray, cache: dict[Any, Any] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(``table[j, bin(Z[:, j])]`` per cell, flat indices of out-of-range cells, overshoot).

        Members sharing the same bins pass one ``cache`` dict so the binning is computed once.
        """
        hit = None if cache is None else cache.get(self.key)
        if hit is None:
            hit = self._locate(Z)
            if cache is not None:
                cache[self.key] = hit
        idx, out, over = hit
        return table.ravel().take(idx), out, over

    def state(self) -> dict[str, np.ndarray]:
        return {"lo": self.lo, "width": self.width}


def _binned(
    bins: _Bins, table: np.ndarray, Z: np.ndarray, cache: dict[Any, Any] | None
) -> np.ndarray:
    vals, out, over = bins.lookup(table, Z, cache)
    flat = vals.ravel()
    flat[out] += np.log1p(over).astype(flat.dtype)
    return vals


def _smoothed_freq(counts: np.ndarray, alpha: float) -> np.ndarray:
    n = counts.sum(axis=1, keepdims=True)
    return np.asarray((counts + alpha) / (n + alpha * counts.shape[1]), dtype=np.float64)


class HistogramScorer(MatrixScorer):
    """HBOS: ``sum_j -log freq_j(bin(z_j)) + log1p(overshoot)`` (see module docstring)."""

    kind = "hbos"

    def __init__(self, n_bins: int = 64, alpha: float = 0.5) -> None:
        self.n_bins = n_bins
        self.alpha = alpha

    def fit(self, Z: np.ndarray, seed: int) -> Self:
        self.bins_ = _Bins.fit(Z, self.n_bins)
        freq = _smoothed_freq(self.bins_.counts(Z), self.alpha)
        self.table_ = -np.log(freq)
        return self

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        return _binned(self.bins_, self.table_, Z, None)

    def score(self, Z: np.ndarray, cache: dict[Any, Any] | None = None) -> np.ndarray:
        vals = _binned(self.bins_, self.table_, Z, cache)
        return np.asarray(vals.sum(axis=1), dtype=np.float64)

    def get_state(self) -> State:
        return {"n_bins": self.n_bins, "alpha": self.alpha}, {
            **self.bins_.state(), "table": self.table_,
        }

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        self = cls(int(meta["n_bins"]), float(meta["alpha"]))
        self.bins_ = _Bins(arrays["lo"], arrays["width"], self.n_bins)
        self.table_ = arrays["table"]
        return self


class TailScorer(MatrixScorer):
    """ECOD-style two-sided tail score ``sum_j -log min(1, 2 min(F_j(z), 1 - F_j(z)))``.

    ``F_j`` is the empirical CDF on a fine equal-width grid (mid-bin convention), so scoring is
    one table lookup per cell; values beyond the fitted range add ``log1p(overshoot)``.
    """

    kind = "ecod"

    def __init__(self, n_bins: int = 64) -> None:
        self.n_bins = n_bins

    def fit(self, Z: np.ndarray, seed: int) -> Self:
        self.bins_ = _Bins.fit(Z, self.n_bins)
        counts = self.bins_.counts(Z)
        n = counts.sum(axis=1, keepdims=True)
        below = np.cumsum(counts, axis=1) - counts
        left = (below + 0.5 * counts + 0.5) / (n + 1.0)
        right = (n - below - 0.5 * counts + 0.5) / (n + 1.0)
        self.table_ = -np.log(np.minimum(1.0, 2.0 * np.minimum(left, right)))
        return self

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        return _binned(self.bins_, self.table_, Z, None)

    def score(self, Z: np.ndarray, cache: dict[Any, Any] | None = None) -> np.ndarray:
        vals = _binned(self.bins_, self.table_, Z, cache)
        return np.asarray(vals.sum(axis=1), dtype=np.float64)

    def get_state(self) -> State:
        return {"n_bins": self.n_bins}, {**self.bins_.state(), "table": self.table_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        self = cls(int(meta["n_bins"]))
        self.bins_ = _Bins(arrays["lo"], arrays["width"], self.n_bins)
        self.table_ = arrays["table"]
        return self


class CentroidScorer(MatrixScorer):
    """Squared Euclidean distance to the nearest of ``n_clusters`` k-means centroids."""

    kind = "centroid"

    def __init__(self, n_clusters: int = 64, max_rows: int = 50_000) -> None:
        self.n_clusters = n_clusters
        self.max_rows = max_rows

    def fit(self, Z: np.ndarray, seed: int) -> Self:
        from sklearn.cluster import KMeans
        from sklearn.exceptions import ConvergenceWarning

        rng = np.random.default_rng(seed)
        sample = Z if Z.shape[0] <= self.max_rows else Z[rng.choice(Z.shape[0], self.max_rows,
                                                                      replace=False)]
        k = int(min(self.n_clusters, max(1, np.unique(sample, axis=0).shape[0])))
        with warnings.catch_warnings():  # duplicate-heavy data: fewer distinct clusters is fine
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100).fit(sample)
        self.centroids_ = np.ascontiguousarray(km.cluster_centers_, dtype=np.float64)
        self.sqnorm_ = (self.centroids_**2).sum(axis=1)
        return self

    def nearest(self, Z: np.ndarray) -> np.ndarray:
        """Index of the nearest centroid for every row (one matrix product)."""
        d2 = self.sqnorm_[None, :] - 2.0 * (Z @ self.centroids_.T)
        return np.asarray(d2.argmin(axis=1), dtype=np.intp)

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        diff = Z - self.centroids_[self.nearest(Z)]
        return np.asarray(diff * diff, dtype=np.float64)

    def score(self, Z: np.ndarray, cache: dict[Any, Any] | None = None) -> np.ndarray:
        c = self.centroids_.astype(Z.dtype, copy=False)
        d2 = (Z @ c.T) * -2.0
        d2 += self.sqnorm_.astype(Z.dtype)
        best = d2.min(axis=1)
        best += np.einsum("ij,ij->i", Z, Z)
        return np.asarray(np.maximum(best, 0.0), dtype=np.float64)

    def get_state(self) -> State:
        return {"n_clusters": self.n_clusters, "max_rows": self.max_rows}, {
            "centroids": self.centroids_,
        }

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        self = cls(int(meta["n_clusters"]), int(meta["max_rows"]))
        self.centroids_ = np.ascontiguousarray(arrays["centroids"], dtype=np.float64)
        self.sqnorm_ = (self.centroids_**2).sum(axis=1)
        return self
