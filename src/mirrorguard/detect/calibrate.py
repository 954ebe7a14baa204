"""Score normalisation fitted on benign scores: a shared scale for ensemble members.

:class:`TailNormaliser` maps a raw member score to ``-log`` of its benign upper-tail probability
(``P(benign score >= s)``, read from a quantile grid of held-out benign scores), so ``2.3`` means
"as rare as the top 10 % of benign rows" whatever the member's units. Beyond the largest benign
score the map continues linearly, in units of that score's distance from the benign median, so
ranking among far outliers is preserved (an ECDF alone would tie them). Combining members by the
mean of these values is a Fisher-style combination of tail evidence.

>>> import numpy as np
>>> n = TailNormaliser().fit(np.arange(1000.0))
>>> float(n.transform(np.array([500.0]))[0]) < float(n.transform(np.array([999.0]))[0])
True
"""

from __future__ import annotations

from typing import Self

import numpy as np


class TailNormaliser:
    """``-log`` benign upper-tail probability, extrapolated linearly past the benign maximum."""

    def __init__(self, grid_size: int = 1001) -> None:
        self.grid_size = grid_size

    def fit(self, benign_scores: np.ndarray) -> Self:
        s = np.asarray(benign_scores, dtype=np.float64)
        self.n_ = int(s.size)
        self.grid_ = np.quantile(s, np.linspace(0.0, 1.0, self.grid_size))
        self.median_ = float(np.median(s))
        self.span_ = max(float(self.grid_[-1]) - self.median_, 1e-12)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Normalised scores (0 near the benign minimum, ~``log n`` at the benign maximum)."""
        s = np.asarray(scores, dtype=np.float64)
        g = self.grid_
        cdf = np.searchsorted(g, s, side="left") / (g.size - 1.0)
        tail = np.maximum(1.0 - cdf, 1.0 / (self.n_ + 1.0))
        over = np.maximum(s - g[-1], 0.0) / self.span_
        return np.asarray(-np.log(tail) + over, dtype=np.float64)

    def secant(self, scores: np.ndarray) -> np.ndarray:
        """Slope of the map between the benign median and ``scores`` (for attributions)."""
        s = np.asarray(scores, dtype=np.float64)
        base = self.transform(np.array([self.median_]))[0]
        d = s - self.median_
        safe = np.where(np.abs(d) > 1e-12, d, 1.0)
        slope = (self.transform(s) - base) / safe
        return np.asarray(np.where(np.abs(d) > 1e-12, slope, 0.0), dtype=np.float64)

    def state(self) -> dict[str, np.ndarray]:
        return {
            "grid": self.grid_,
            "stats": np.array([self.n_, self.median_, self.span_], dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, grid: np.ndarray, stats: np.ndarray) -> TailNormaliser:
        self = cls(int(grid.size))
        self.grid_ = np.asarray(grid, dtype=np.float64)
        self.n_, self.median_, self.span_ = int(stats[0]), float(stats[1]), float(stats[2])
        return self
