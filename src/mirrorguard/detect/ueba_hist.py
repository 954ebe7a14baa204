"""Fixed-bin logarithmic histograms: a mergeable quantile sketch stored as plain arrays.

Bin 0 holds values below 1 (zero counts, zero bytes); bins ``1 .. n_bins-1`` are log-spaced
from 1 to ``10**12`` (about ±25 % resolution with 64 bins). Histograms of many entities are one
``(entities, dimensions, bins)`` float array, so updates (``np.add.at``), merges (sums over a peer
group) and queries (percentile of a value, value at a quantile) are vectorised over rows.

>>> import numpy as np
>>> h = np.zeros((1, 64))
>>> np.add.at(h, (np.zeros(100, int), bin_index(np.arange(1.0, 101.0), 64)), 1)
>>> 40 < float(value_at(h, 0.5)[0]) < 65, float(percentile_of(h, np.array([1000.0]))[0])
(True, 100.0)
"""

from __future__ import annotations

import numpy as np

MAX_VALUE = 1e12


def _base(n_bins: int) -> float:
    return float(MAX_VALUE ** (1.0 / (n_bins - 2)))


def bin_index(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each value (0 for values below 1)."""
    v = np.asarray(values, dtype=np.float64)
    logs = np.log(np.maximum(v, 1.0)) / np.log(_base(n_bins))
    idx = 1 + np.clip(np.floor(logs), 0, n_bins - 2).astype(np.int64)
    return np.where(v < 1.0, 0, idx)


def bin_values(n_bins: int) -> np.ndarray:
    """A representative value per bin (0, then the geometric centre of each log bin)."""
    base = _base(n_bins)
    centres = base ** (np.arange(n_bins - 1) + 0.5)
    return np.concatenate(([0.0], centres))


def percentile_of(hist: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mid-rank percentile (0–100) of each value within its row of ``hist`` (rows, bins)."""
    n_bins = hist.shape[1]
    b = bin_index(values, n_bins)
    total = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    rows = np.arange(hist.shape[0])
    below = cum[rows, b] - hist[rows, b]
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * (below + 0.5 * hist[rows, b]) / total
    return np.where(total > 0, pct, np.nan)


def value_at(hist: np.ndarray, q: float) -> np.ndarray:
    """Representative value at quantile ``q`` (0–1) of each row of ``hist``."""
    n_bins = hist.shape[1]
    total = hist.sum(axis=1, keepdims=True)
    cum = np.cumsum(hist, axis=1)
    idx = np.argmax(cum >= q * total, axis=1)
    vals = bin_values(n_bins)[idx]
    return np.where(total[:, 0] > 0, vals, np.nan)
