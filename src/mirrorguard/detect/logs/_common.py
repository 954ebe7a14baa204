"""Shared plumbing for log-session detectors: vocabularies, padded sequences, n-gram codes.

Sessions arrive as frames from :mod:`mirrorguard.features.sessions` with a ``templates`` list
column. Template ids are mapped to dense indices ``1..V`` (``0`` = never seen in training);
``V + 1`` and ``V + 2`` mark the start and the end of a session.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mirrorguard.errors import MirrorguardError, SchemaError
from mirrorguard.features.sessions import TEMPLATES, flatten


class NotFittedError(MirrorguardError):
    """A detector was used before ``fit``."""


def sequences(X: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(flat template ids, offsets) of the ``templates`` column."""
    if TEMPLATES not in X.columns:
        raise SchemaError(f"session frame lacks the {TEMPLATES!r} list column")
    return flatten(X[TEMPLATES])


def encode(values: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Dense indices ``1..V`` for known template ids (``vocabulary`` sorted), ``0`` otherwise."""
    if vocabulary.size == 0:
        return np.zeros(values.size, dtype=np.int64)
    pos = np.searchsorted(vocabulary, values)
    pos_c = np.clip(pos, 0, vocabulary.size - 1)
    known = vocabulary[pos_c] == values
    return np.where(known, pos_c + 1, 0).astype(np.int64)


def pad(idx: np.ndarray, offsets: np.ndarray, n_start: int, start: int, end: int
        ) -> tuple[np.ndarray, np.ndarray]:
    """Each session as ``[start] * n_start + sequence + [end]``; returns (flat, offsets)."""
    n = offsets.size - 1
    lengths = np.diff(offsets)
    new_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths + n_start + 1, out=new_off[1:])
    out = np.full(int(new_off[-1]), start, dtype=np.int64)
    row = np.repeat(np.arange(n, dtype=np.int64), lengths)
    within = np.arange(idx.size, dtype=np.int64) - offsets[row]
    out[new_off[row] + n_start + within] = idx
    if n:
        out[new_off[1:] - 1] = end
    return out, new_off


def window_codes(flat: np.ndarray, offsets: np.ndarray, width: int, base: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes of every length-``width`` window that stays inside one session.

    Returns (codes, session row of each window, window start position within its session).
    """
    if base ** width >= 2**62:
        raise MirrorguardError(f"window {width} over {base} symbols overflows int64 codes")
    n = offsets.size - 1
    total = flat.size - width + 1
    if total <= 0 or n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    codes = np.zeros(total, dtype=np.int64)
    for k in range(width):
        codes = codes * base + flat[k: k + total]
    starts = np.arange(total, dtype=np.int64)
    row = np.searchsorted(offsets, starts, side="right") - 1
    valid = starts + width <= offsets[row + 1]
    return codes[valid], row[valid], starts[valid] - offsets[row[valid]]


def per_session_max(values: np.ndarray, row: np.ndarray, n: int) -> np.ndarray:
    """Maximum of ``values`` per session row (0 for sessions without values)."""
    out = np.zeros(n, dtype=np.float64)
    if values.size:
        np.maximum.at(out, row, values)
    return out


def per_session_mean(values: np.ndarray, row: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` per session row (0 for sessions without values)."""
    sums = np.bincount(row, weights=values, minlength=n)
    cnt = np.bincount(row, minlength=n)
    return np.divide(sums, cnt, out=np.zeros(n), where=cnt > 0)


def check_fitted(obj: object, attr: str) -> None:
    if not hasattr(obj, attr):
        raise NotFittedError(f"{type(obj).__name__} is not fitted; call fit() first")
