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

Fast path. Most columns of a flow matrix are one-hot indicators of a few categorical features,
and every member's work on such a block depends only on the category code. After
:meth:`MatrixScorer.prepare` (given the transformer's
:class:`~mirrorguard.features.transforms.SplitLayout`), :meth:`MatrixScorer.score_split` scores
the numeric block and the codes directly: binned members add one precomputed per-code value per
categorical feature; the centroid member adds one precomputed row of per-code dot products per
feature (``z . c`` and ``|z|^2`` are sums over columns). The result equals :meth:`score` on the
expanded matrix up to float32 rounding, without materialising the one-hot columns.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np

from mirrorguard.features.transforms import NotFittedError, SplitLayout

State = tuple[dict[str, Any], dict[str, np.ndarray]]
#: rows per block in the centroid member's fast path (its rows x centroids matrix stays small)
_CENTROID_BLOCK = 2048


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

    def prepare(self, layout: SplitLayout) -> None:
        """Precompute what :meth:`score_split` needs for matrices of ``layout`` (after fit)."""
        self._layout = layout

    def _prepared(self) -> SplitLayout:
        if not hasattr(self, "_layout"):
            raise NotFittedError(f"{type(self).__name__}.prepare(layout) was not called")
        return self._layout

    def score_split(
        self, A: np.ndarray, codes: np.ndarray, cache: dict[Any, Any] | None = None
    ) -> np.ndarray:
        """:meth:`score` of ``layout.expand(A, codes)``; members override it to skip the one-hot
        expansion (see the module docstring)."""
        return self.score(self._prepared().expand(A, codes), cache)

    @abstractmethod
    def get_state(self) -> State:
        """(JSON metadata, arrays)."""

    @classmethod
    @abstractmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        """Rebuild from :meth:`get_state`."""


class CodeTables:
    """Per-code tables of several categorical features, summed with few gathers.

    ``tables[f][k]`` is a value (or a row) for code ``k`` of feature ``f``. Consecutive features
    are merged into joint-code groups while a group's number of code combinations stays within
    ``limit``; :meth:`add_to` then adds ``sum_f tables[f][codes[:, f]]`` with one gather per
    group (the gather is what costs; the joint table is small).

    >>> t = CodeTables([np.array([0.0, 1.0]), np.array([10.0, 20.0, 30.0])])
    >>> out = np.zeros(2)
    >>> t.add_to(out, np.array([[1, 2], [0, 0]]))
    >>> out.tolist()
    [31.0, 10.0]
    """

    def __init__(self, tables: list[np.ndarray], limit: int = 4096) -> None:
        self.groups: list[tuple[list[int], list[int], np.ndarray]] = []
        group: list[int] = []
        for f, table in enumerate(tables):
            size = int(np.prod([tables[g].shape[0] for g in group])) * table.shape[0]
            if group and size > limit:
                self.groups.append(self._merge(group, tables))
                group = []
            group.append(f)
        if group:
            self.groups.append(self._merge(group, tables))

    @staticmethod
    def _merge(group: list[int], tables: list[np.ndarray]) -> tuple[list[int], list[int],
                                                                     np.ndarray]:
        sizes = [tables[f].shape[0] for f in group]
        grid = np.indices(sizes).reshape(len(sizes), -1)  # C order: the last code varies fastest
        strides = [int(np.prod(sizes[i + 1:])) for i in range(len(sizes))]
        joint = sum(tables[f][grid[i]] for i, f in enumerate(group))
        return group, strides, np.ascontiguousarray(joint)

    def add_to(self, out: np.ndarray, codes: np.ndarray) -> None:
        """``out += sum_f tables[f][codes[:, f]]`` (in place)."""
        for features, strides, joint in self.groups:
            idx = codes[:, features[0]] * strides[0]
            for f, stride in zip(features[1:], strides[1:], strict=True):
                idx += codes[:, f] * stride
            out += joint.take(idx, axis=0)


class _Bins:
    """Equal-width bins per column with one extra bin on each side for out-of-range values.

    Column ``j``'s value ``z`` has local position ``p = 1 + (z - lo_j) / width_j``; inner bins
    ``1..B`` cover ``[1, B + 1)``, bin 0 is "below the fitted range" and bin ``B + 1`` "above".
    Positions are computed per cell in the input's precision with per-column constants, so a
    column's bins do not depend on how many columns the matrix has (the fast path scores the
    numeric prefix of the matrix only).
    """

    def __init__(self, lo: np.ndarray, width: np.ndarray, n_bins: int) -> None:
        self.lo, self.width, self.n_bins = lo, width, n_bins
        self.key = (n_bins, np.asarray(lo).tobytes(), np.asarray(width).tobytes())
        inv = 1.0 / np.asarray(width, dtype=np.float64)
        self._inv, self._shift = inv, 1.0 - np.asarray(lo, dtype=np.float64) * inv

    @classmethod
    def fit(cls, Z: np.ndarray, n_bins: int) -> _Bins:
        lo, hi = Z.min(axis=0).astype(np.float64), Z.max(axis=0).astype(np.float64)
        # a hair wider than the range, so the fitted maximum falls in the last inner bin
        width = np.where(hi > lo, (hi - lo) * (1.0 + 1e-9) / n_bins, 1.0)
        return cls(lo, width, n_bins)

    def counts(self, Z: np.ndarray) -> np.ndarray:
        """Per-column counts over the ``n_bins + 2`` bins, shape ``(d, n_bins + 2)``."""
        d, nb = Z.shape[1], self.n_bins + 2
        idx, _, _ = self._locate(Z)
        return np.bincount(idx.ravel(), minlength=d * nb).reshape(d, nb).astype(np.float64)

    def _locate(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat table indices, flat positions of out-of-range cells, and their overshoot.

        ``Z`` holds the first ``Z.shape[1]`` fitted columns. Column ``j`` owns table entries
        ``[j(B+2), (j+1)(B+2))``; the overshoot is how many bin widths an out-of-range cell
        lies outside the fitted range.
        """
        m, b = Z.shape[1], self.n_bins
        pos = Z * self._inv[:m].astype(Z.dtype)
        pos += self._shift[:m].astype(Z.dtype)
        idx = np.clip(pos, 0.0, b + 1.0).astype(np.int32)
        u = idx - 1  # out of range <=> bin 0 or B + 1 <=> (bin - 1) as unsigned >= B
        out = np.flatnonzero(u.view(np.uint32) >= b)
        p_out = pos.ravel()[out].astype(np.float64)
        over = np.maximum(1.0 - p_out, 0.0) + np.maximum(p_out - (b + 1.0), 0.0)
        idx += (np.arange(m, dtype=np.int32) * (b + 2))[None, :]
        return idx, out, over

    def lookup(
        self, table: np.ndarray, Z: np.ndarray, cache: dict[Any, Any] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(``table[j, bin(Z[:, j])]`` per cell, flat indices of out-of-range cells, overshoot).

        Members sharing the same bins pass one ``cache`` dict so the binning is computed once.
        """
        key = (self.key, Z.shape)
        hit = None if cache is None else cache.get(key)
        if hit is None:
            hit = self._locate(Z)
            if cache is not None:
                cache[key] = hit
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


class _BinnedScorer(MatrixScorer):
    """A member whose cell value is ``table[j, bin(z_j)] + log1p(overshoot)``."""

    bins_: _Bins
    table_: np.ndarray

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        return _binned(self.bins_, self.table_, Z, None)

    def score(self, Z: np.ndarray, cache: dict[Any, Any] | None = None) -> np.ndarray:
        vals = _binned(self.bins_, self.table_, Z, cache)
        return np.asarray(vals.sum(axis=1), dtype=np.float64)

    def prepare(self, layout: SplitLayout) -> None:
        """Numeric table in the layout's precision; per code, the sum over its block's cells."""
        super().prepare(layout)
        self._num_table = self.table_[: layout.numeric].astype(layout.dtype)
        per_code = []
        for f, (start, rows) in enumerate(layout.blocks):
            cells = self.contributions(layout.code_matrix(f))
            per_code.append(cells[:, start: start + rows.shape[1]].sum(axis=1))
        self._codes = CodeTables(per_code)

    def score_split(
        self, A: np.ndarray, codes: np.ndarray, cache: dict[Any, Any] | None = None
    ) -> np.ndarray:
        self._prepared()
        if A.shape[1]:
            s = _binned(self.bins_, self._num_table, A, cache).sum(axis=1).astype(np.float64)
        else:
            s = np.zeros(A.shape[0])
        self._codes.add_to(s, codes)
        return np.asarray(s, dtype=np.float64)


class HistogramScorer(_BinnedScorer):
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


class TailScorer(_BinnedScorer):
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

    def prepare(self, layout: SplitLayout) -> None:
        """``-2 c`` on the numeric columns; per code, ``|c|^2 - 2 (block . c)`` for every
        centroid and the block's squared norm."""
        super().prepare(layout)
        C, p = self.centroids_, layout.numeric
        self._w = np.ascontiguousarray(-2.0 * C[:, :p].T, dtype=layout.dtype)
        self._bias = self.sqnorm_.astype(layout.dtype)
        dots, sq = [], []
        for start, rows in layout.blocks:
            dots.append((-2.0 * rows @ C[:, start: start + rows.shape[1]].T).astype(layout.dtype))
            sq.append((rows * rows).sum(axis=1))
        self._dots, self._sq = CodeTables(dots), CodeTables(sq)

    def score_split(
        self, A: np.ndarray, codes: np.ndarray, cache: dict[Any, Any] | None = None
    ) -> np.ndarray:
        """``min_c |z - c|^2`` as ``|z|^2 + min_c (|c|^2 - 2 z . c)``, in cache-sized blocks."""
        self._prepared()
        best = np.empty(A.shape[0])
        for i in range(0, A.shape[0], _CENTROID_BLOCK):
            a, k = A[i: i + _CENTROID_BLOCK], codes[i: i + _CENTROID_BLOCK]
            d2 = a @ self._w
            d2 += self._bias
            self._dots.add_to(d2, k)
            best[i: i + a.shape[0]] = d2.min(axis=1)
        best += np.einsum("ij,ij->i", A, A)
        self._sq.add_to(best, codes)
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
