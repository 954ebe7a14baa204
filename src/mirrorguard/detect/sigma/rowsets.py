"""Sparse boolean columns: a sorted set of row positions, or the complement of one.

Rule trees are evaluated on these instead of dense boolean columns, so the cost of AND/OR/NOT
grows with the rows a predicate selects, not with the batch: ``selection and not filter`` is
a set difference of two (usually tiny) sets.

>>> a, b = RowSet.of([1, 2, 3]), RowSet.of([2, 5])
>>> (a & ~b).rows.tolist(), (a | b).rows.tolist(), (~a & ~b).neg
([1, 3], [1, 2, 3, 5], True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

Rows = np.ndarray  # sorted unique int64 positions


def as_rows(values: Iterable[int] | np.ndarray) -> Rows:
    """Sorted unique int64 array from any integer iterable."""
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.int64)
    return np.unique(arr)


EMPTY: Rows = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class RowSet:
    """``rows`` (when ``neg`` is False) or every row except ``rows`` (when True)."""

    rows: Rows
    neg: bool = False

    @classmethod
    def of(cls, values: Iterable[int] | np.ndarray) -> RowSet:
        return cls(as_rows(values))

    @classmethod
    def empty(cls) -> RowSet:
        return cls(EMPTY)

    @classmethod
    def full(cls) -> RowSet:
        return cls(EMPTY, True)

    def is_empty(self) -> bool:
        return not self.neg and self.rows.size == 0

    def __invert__(self) -> RowSet:
        return RowSet(self.rows, not self.neg)

    def __and__(self, other: RowSet) -> RowSet:
        a, b = self, other
        if a.is_empty() or b.is_empty():
            return RowSet.empty()
        if not a.neg and not b.neg:
            return RowSet(np.intersect1d(a.rows, b.rows, assume_unique=True))
        if a.neg and b.neg:
            return RowSet(np.union1d(a.rows, b.rows), True)
        pos, neg = (a, b) if not a.neg else (b, a)
        return RowSet(np.setdiff1d(pos.rows, neg.rows, assume_unique=True))

    def __or__(self, other: RowSet) -> RowSet:
        return ~((~self) & (~other))

    def materialize(self, n: int) -> Rows:
        """Positive row positions within a universe of ``n`` rows."""
        if not self.neg:
            return self.rows
        keep = np.ones(n, dtype=bool)
        keep[self.rows[self.rows < n]] = False
        return np.flatnonzero(keep).astype(np.int64)

    def restrict(self, within: Rows) -> Rows:
        """The rows of ``within`` that are in this set."""
        hit = np.isin(within, self.rows, assume_unique=True)
        return within[~hit] if self.neg else within[hit]
