"""Active learning: which unlabelled alerts would teach the model the most if an analyst
labelled them.

The default strategy is *cluster-margin* batch selection (Citovsky et al., *Batch Active
Learning at Scale*, NeurIPS 2021; after Brinker, ICML 2003): take the ``pool_factor·k`` most
uncertain candidates (margin ``1 − |2p − 1|``, highest when the model is least sure),
cluster them (k-means on standardised features), and pick the most uncertain member of each
cluster in turn until ``k`` are chosen, so one batch does not spend verdicts on near-copies of
the same flow. Uncertainty sampling is Lewis & Gale, SIGIR 1994.

``random`` (uniform choice, the baseline) and ``top`` (highest score first — what an analyst
working the queue in order does) are there to compare against.

>>> import numpy as np
>>> p = np.array([0.99, 0.5, 0.01, 0.45, 0.9])
>>> select(p, np.eye(5), k=2, strategy="uncertainty", rng=np.random.default_rng(0)).tolist()
[1, 3]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.cluster import KMeans

from mirrorguard.errors import ConfigError

Strategy = Literal["cluster_margin", "uncertainty", "random", "top"]
STRATEGIES: tuple[Strategy, ...] = ("cluster_margin", "uncertainty", "random", "top")


def margin(proba: np.ndarray) -> np.ndarray:
    """Uncertainty ``1 − |2p − 1|`` in [0, 1] (1 at p = 0.5)."""
    out: np.ndarray = 1.0 - np.abs(2.0 * np.asarray(proba, dtype=np.float64) - 1.0)
    return out


def select(proba: np.ndarray, features: np.ndarray, k: int, strategy: Strategy,
           rng: np.random.Generator, pool_factor: int = 5) -> np.ndarray:
    """Positions (into ``proba``) of the ``k`` candidates to label next, best first."""
    n = len(proba)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if strategy == "random":
        return rng.choice(n, size=k, replace=False).astype(np.int64)
    if strategy == "top":
        return np.argsort(-np.asarray(proba), kind="stable")[:k].astype(np.int64)
    u = margin(proba)
    order = np.lexsort((np.arange(n), -u))
    if strategy == "uncertainty":
        return order[:k].astype(np.int64)
    if strategy == "cluster_margin":
        return _cluster_margin(u, features, order[: min(n, pool_factor * k)], k, rng)
    raise ConfigError(f"unknown active-learning strategy {strategy!r}; known: {STRATEGIES}")


def _cluster_margin(u: np.ndarray, features: np.ndarray, cand: np.ndarray, k: int,
                    rng: np.random.Generator) -> np.ndarray:
    if len(cand) <= k:
        return cand.astype(np.int64)
    X = np.asarray(features[cand], dtype=np.float64)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9)
    seed = int(rng.integers(0, 2**31 - 1))
    labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(X)
    picked: list[int] = []
    by_cluster = [cand[labels == c] for c in range(k)]
    by_cluster = [c[np.argsort(-u[c], kind="stable")] for c in by_cluster if len(c)]
    by_cluster.sort(key=lambda c: -u[c[0]])
    depth = 0
    while len(picked) < k:
        for c in by_cluster:
            if depth < len(c) and len(picked) < k:
                picked.append(int(c[depth]))
        depth += 1
    return np.array(picked, dtype=np.int64)
