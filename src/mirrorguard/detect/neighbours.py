"""Out-of-distribution test against the whole training set: nearest-training-row distance.

A row is *outside the training data* when its Euclidean distance to the nearest training row
(of any class) exceeds what held-out training rows show: :class:`NearestTrainingDistance` holds
out ``calibration_rows`` training rows (seeded), keeps the rest (capped at ``max_reference``
rows, seeded sample) as the reference set, and sets ``threshold_`` to the ``1 - fpr`` quantile of
the held-out rows' nearest-reference distances, so about ``fpr`` of rows drawn like the training
data fall beyond it. This is the classic 1-nearest-neighbour novelty score (e.g. S. Ramaswamy,
R. Rastogi, K. Shim, "Efficient Algorithms for Mining Outliers from Large Data Sets", SIGMOD
2000), used here as a gate: a row close to *some* training row was seen, in kind, by the
classifier trained on those rows.

Distances are exact, by blocked matrix products (``|q|^2 + |r|^2 - 2 q.r``, float32) with a
running minimum; callers should query only the rows where the answer matters.

>>> import numpy as np
>>> Z = np.random.default_rng(0).normal(size=(3000, 4))
>>> nn = NearestTrainingDistance(fpr=0.02, calibration_rows=500, seed=0).fit(Z)
>>> far = nn.distance(np.array([[0.0, 0, 0, 0], [9.0, 9, 9, 9]]))
>>> bool(far[0] < nn.threshold_ < far[1])
True
"""

from __future__ import annotations

from typing import Self

import numpy as np

from mirrorguard.errors import ConfigError, MirrorguardError

_QUERY_BLOCK = 512
_REF_BLOCK = 8192


class NearestTrainingDistance:
    """Distance to the nearest reference training row, with a held-out FPR threshold."""

    def __init__(
        self, fpr: float = 0.02, calibration_rows: int = 4000, max_reference: int = 50_000,
        seed: int = 0,
    ) -> None:
        self.fpr = fpr
        self.calibration_rows = calibration_rows
        self.max_reference = max_reference
        self.seed = seed

    def fit(self, Z: np.ndarray) -> Self:
        """Hold out calibration rows, keep a reference sample, fit the distance threshold."""
        if not 0.0 < self.fpr < 1.0:
            raise ConfigError(f"fpr must be in (0, 1), got {self.fpr}")
        if Z.shape[0] < 100:
            raise MirrorguardError(f"need at least 100 training rows, got {Z.shape[0]}")
        perm = np.random.default_rng(self.seed).permutation(Z.shape[0])
        n_cal = min(self.calibration_rows, Z.shape[0] // 5)
        held, rest = perm[:n_cal], perm[n_cal:]
        self.reference_ = np.ascontiguousarray(Z[np.sort(rest[: self.max_reference])],
                                               dtype=np.float32)
        self._prepare()
        self.calibration_distances_ = self.distance(Z[held])
        self.threshold_ = float(np.quantile(self.calibration_distances_, 1.0 - self.fpr))
        median = float(np.median(self.calibration_distances_))
        self.width_ = max((self.threshold_ - median) / 4.0, 1e-6)
        return self

    def _prepare(self) -> None:
        self._ref_sq = np.einsum("ij,ij->i", self.reference_, self.reference_)

    def distance(self, Q: np.ndarray) -> np.ndarray:
        """Euclidean distance from each row of ``Q`` to its nearest reference row."""
        if not hasattr(self, "reference_"):
            raise MirrorguardError("NearestTrainingDistance is not fitted")
        Q = np.ascontiguousarray(Q, dtype=np.float32)
        best = np.full(Q.shape[0], np.inf, dtype=np.float32)
        R, r_sq = self.reference_, self._ref_sq
        for i in range(0, Q.shape[0], _QUERY_BLOCK):
            q = Q[i: i + _QUERY_BLOCK]
            low = best[i: i + q.shape[0]]
            for j in range(0, R.shape[0], _REF_BLOCK):
                d2 = q @ R[j: j + _REF_BLOCK].T
                d2 *= -2.0
                d2 += r_sq[j: j + _REF_BLOCK]
                np.minimum(low, d2.min(axis=1), out=low)
        best += np.einsum("ij,ij->i", Q, Q)
        return np.sqrt(np.maximum(best, 0.0)).astype(np.float64)

    def probability(self, Q: np.ndarray) -> np.ndarray:
        """``sigmoid((distance - threshold) / width)``: crosses 0.5 at the threshold."""
        z = (self.distance(Q) - self.threshold_) / self.width_
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0))), dtype=np.float64)

    def state(self) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """(JSON metadata: parameters and threshold, arrays) for persistence."""
        meta = {"fpr": self.fpr, "calibration_rows": self.calibration_rows,
                "max_reference": self.max_reference, "seed": self.seed,
                "threshold": self.threshold_, "width": self.width_}
        return meta, {"reference": self.reference_,
                      "calibration_distances": self.calibration_distances_}

    @classmethod
    def from_state(
        cls, meta: dict[str, float], arrays: dict[str, np.ndarray]
    ) -> NearestTrainingDistance:
        """Rebuild from :meth:`state`."""
        self = cls(float(meta["fpr"]), int(meta["calibration_rows"]),
                   int(meta["max_reference"]), int(meta["seed"]))
        self.reference_ = np.ascontiguousarray(arrays["reference"], dtype=np.float32)
        self.calibration_distances_ = np.asarray(arrays["calibration_distances"], np.float64)
        self.threshold_, self.width_ = float(meta["threshold"]), float(meta["width"])
        self._prepare()
        return self
