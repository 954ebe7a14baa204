"""Count-vector detectors over sessions: PCA residual and isolation forest.

Each session becomes a vector of template counts over the vocabulary learned in ``fit`` plus
one column for templates never seen in training (:func:`~mirrorguard.features.sessions.
count_matrix`).

* :class:`PCAResidual` — Xu, Huang, Fox, Patterson, Jordan: "Detecting Large-Scale System
  Problems by Mining Console Logs" (SOSP 2009): project TF-IDF-weighted, centred counts on the
  principal subspace that explains ``variance`` of the normal data; the score is the squared
  prediction error (SPE, Q-statistic) left outside it.
* :class:`CountIsolationForest` — Liu, Ting, Zhou: "Isolation Forest" (ICDM 2008). Trees are
  grown with scikit-learn, then kept as plain arrays and scored by our own NumPy traversal, so
  saving needs no pickle.

>>> import polars as pl
>>> train = pl.DataFrame({"templates": [[1, 2, 2], [1, 2, 2, 2], [1, 2]] * 10})
>>> pca = PCAResidual().fit(train)
>>> s = pca.score(pl.DataFrame({"templates": [[1, 2, 2], [1, 3, 3, 3]]}))
>>> bool(s[1] > s[0])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector, JSONValue
from mirrorguard.detect.logs._common import check_fitted, sequences
from mirrorguard.features.sessions import TEMPLATES, count_matrix
from mirrorguard.schema.alerts import Contribution, Explanation

_EULER = 0.5772156649015329


def _counts(X: pl.DataFrame, vocabulary: np.ndarray) -> np.ndarray:
    sequences(X)  # validates the frame
    return count_matrix(X[TEMPLATES], vocabulary)


def _names(vocabulary: np.ndarray) -> list[str]:
    return [f"template {int(t)}" for t in vocabulary] + ["unseen templates"]


def _top_features(delta: np.ndarray, values: np.ndarray, baseline: np.ndarray,
                  names: list[str], k: int = 3) -> tuple[Contribution, ...]:
    top = np.argsort(-np.abs(delta), kind="stable")[:k]
    return tuple(
        Contribution(feature=names[i], value=float(values[i]), baseline=round(float(
            baseline[i]), 3), contribution=float(delta[i]))
        for i in top if delta[i] != 0
    )


class PCAResidual(Detector):
    """Squared prediction error outside the normal principal subspace (Xu et al. 2009)."""

    name: ClassVar[str] = "log.pca_residual"

    def __init__(self, variance: float = 0.95, tfidf: bool = True) -> None:
        self.variance = variance
        self.tfidf = tfidf

    def _prepare(self, X: pl.DataFrame) -> np.ndarray:
        counts = _counts(X, self.vocabulary_)
        weighted = counts * self.idf_ if self.tfidf else counts
        return np.asarray(weighted - self.mean_)

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        values, _ = sequences(X)
        self.vocabulary_ = np.unique(values)
        counts = _counts(X, self.vocabulary_)
        df = np.count_nonzero(counts, axis=0)
        self.idf_ = np.log((counts.shape[0] + 1) / (df + 1)) + 1.0
        weighted = counts * self.idf_ if self.tfidf else counts
        self.mean_ = weighted.mean(axis=0)
        _, s, vt = np.linalg.svd(weighted - self.mean_, full_matrices=False)
        energy = s**2
        share = np.cumsum(energy) / energy.sum() if energy.sum() > 0 else np.ones_like(s)
        k = int(np.searchsorted(share, self.variance) + 1) if s.size else 0
        self.components_ = vt[:k]
        return self

    def residuals(self, X: pl.DataFrame) -> np.ndarray:
        """Per-feature residuals outside the principal subspace."""
        check_fitted(self, "components_")
        z = self._prepare(X)
        return np.asarray(z - (z @ self.components_.T) @ self.components_)

    def score(self, X: pl.DataFrame) -> np.ndarray:
        return np.asarray((self.residuals(X) ** 2).sum(axis=1))

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        sub = X[list(rows)]
        res = self.residuals(sub)
        counts = _counts(sub, self.vocabulary_)
        base = self.mean_ / self.idf_ if self.tfidf else self.mean_
        out = []
        for r in range(sub.height):
            contribs = _top_features(res[r], counts[r], base, _names(self.vocabulary_))
            lead = contribs[0].feature if contribs else "no template"
            out.append(Explanation(
                text=f"template counts off the normal subspace, mostly {lead} "
                     f"(SPE {float((res[r] ** 2).sum()):.3g})",
                contributions=contribs))
        return out

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "components_")
        return {}, {"vocabulary": self.vocabulary_, "idf": self.idf_, "mean": self.mean_,
                    "components": self.components_}

    @classmethod
    def from_state(cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
                   arrays: dict[str, np.ndarray]) -> Self:
        det = cls(**params)
        det.vocabulary_ = np.asarray(arrays["vocabulary"], dtype=np.int64)
        det.idf_, det.mean_ = np.asarray(arrays["idf"]), np.asarray(arrays["mean"])
        det.components_ = np.asarray(arrays["components"])
        return det


def _avg_path(n: np.ndarray) -> np.ndarray:
    """Average path length of an unsuccessful BST search among ``n`` points (Liu et al.)."""
    n = np.asarray(n, dtype=np.float64)
    safe = np.maximum(n, 2.0)
    c = 2.0 * (np.log(safe - 1.0) + _EULER) - 2.0 * (safe - 1.0) / safe
    return np.asarray(np.where(n > 2, c, np.where(n == 2, 1.0, 0.0)))


class CountIsolationForest(Detector):
    """Isolation-forest anomaly score ``2^(-E[h(x)] / c(psi))`` of template count vectors."""

    name: ClassVar[str] = "log.count_iforest"

    def __init__(self, n_estimators: int = 100, max_samples: int = 256, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        from sklearn.ensemble import IsolationForest

        values, _ = sequences(X)
        self.vocabulary_ = np.unique(values)
        counts = _counts(X, self.vocabulary_)
        forest = IsolationForest(n_estimators=self.n_estimators, max_samples=min(
            self.max_samples, counts.shape[0]), random_state=self.seed).fit(counts)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "left", "right", "feature", "threshold", "n_samples", "roots")}
        offset = 0
        for est, feats in zip(forest.estimators_, forest.estimators_features_, strict=True):
            t = est.tree_
            leaf = t.children_left == -1
            parts["left"].append(np.where(leaf, -1, t.children_left + offset))
            parts["right"].append(np.where(leaf, -1, t.children_right + offset))
            parts["feature"].append(np.where(leaf, 0, np.asarray(feats)[np.maximum(
                t.feature, 0)]))
            parts["threshold"].append(t.threshold.astype(np.float64))
            parts["n_samples"].append(t.n_node_samples.astype(np.int64))
            parts["roots"].append(np.array([offset]))
            offset += t.node_count
        self.trees_ = {k: np.concatenate(v) for k, v in parts.items()}
        self.psi_ = int(forest.max_samples_)
        self.mean_ = counts.mean(axis=0)
        self.std_ = counts.std(axis=0)
        return self

    def _depths(self, counts: np.ndarray) -> np.ndarray:
        t = self.trees_
        n = counts.shape[0]
        total = np.zeros(n, dtype=np.float64)
        rows = np.arange(n)
        for root in t["roots"].tolist():
            node = np.full(n, root, dtype=np.int64)
            depth = np.zeros(n, dtype=np.float64)
            active = t["left"][node] != -1
            while active.any():
                go_left = counts[rows, t["feature"][node]] <= t["threshold"][node]
                nxt = np.where(go_left, t["left"][node], t["right"][node])
                node = np.where(active, nxt, node)
                depth += active
                active = t["left"][node] != -1
            total += depth + _avg_path(t["n_samples"][node])
        return total / max(len(t["roots"]), 1)

    def score(self, X: pl.DataFrame) -> np.ndarray:
        check_fitted(self, "trees_")
        depth = self._depths(_counts(X, self.vocabulary_))
        return np.asarray(2.0 ** (-depth / max(float(_avg_path(np.array([self.psi_]))[0]), 1e-9)))

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        check_fitted(self, "trees_")
        sub = X[list(rows)]
        counts = _counts(sub, self.vocabulary_)
        z = (counts - self.mean_) / np.where(self.std_ > 0, self.std_, 1.0)
        scores = self.score(sub)
        out = []
        for r in range(sub.height):
            contribs = _top_features(z[r], counts[r], self.mean_, _names(self.vocabulary_))
            lead = contribs[0].feature if contribs else "no template"
            out.append(Explanation(
                text=f"isolated quickly (score {scores[r]:.3f}); most unusual count: {lead}",
                contributions=contribs))
        return out

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "trees_")
        arrays = {f"tree_{k}": v for k, v in self.trees_.items()}
        return {"psi": self.psi_}, {"vocabulary": self.vocabulary_, "mean": self.mean_,
                                    "std": self.std_, **arrays}

    @classmethod
    def from_state(cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
                   arrays: dict[str, np.ndarray]) -> Self:
        det = cls(**params)
        det.vocabulary_ = np.asarray(arrays["vocabulary"], dtype=np.int64)
        det.mean_, det.std_ = np.asarray(arrays["mean"]), np.asarray(arrays["std"])
        det.trees_ = {k[5:]: np.asarray(v) for k, v in arrays.items() if k.startswith("tree_")}
        det.psi_ = int(meta["psi"])
        return det
