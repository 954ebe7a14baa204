"""STIDE-like n-gram novelty over template sequences.

Forrest, Hofmeyr, Somayaji, Longstaff: "A Sense of Self for Unix Processes" (IEEE S&P 1996);
Warrender, Forrest, Pearlmutter: "Detecting Intrusions Using System Calls" (IEEE S&P 1999).
Training stores every window of ``n`` consecutive templates (sessions padded with start/end
markers) seen in normal sessions; a session's score is the share of its windows never seen.

>>> import polars as pl
>>> train = pl.DataFrame({"templates": [[1, 2, 3], [1, 2, 3, 3]]})
>>> det = NgramNovelty(n=2).fit(train)
>>> det.score(pl.DataFrame({"templates": [[1, 2, 3], [1, 3, 2]]})).round(2).tolist()
[0.0, 0.75]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector, JSONValue
from mirrorguard.detect.logs._common import (
    check_fitted,
    encode,
    pad,
    per_session_mean,
    sequences,
    window_codes,
)
from mirrorguard.schema.alerts import Contribution, Explanation


class NgramNovelty(Detector):
    """Share of a session's length-``n`` template windows unseen in training (STIDE)."""

    name: ClassVar[str] = "log.ngram_novelty"

    def __init__(self, n: int = 4) -> None:
        self.n = n

    def _windows(self, X: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        values, offsets = sequences(X)
        v = self.vocabulary_.size
        flat, off = pad(encode(values, self.vocabulary_), offsets, self.n - 1, v + 1, v + 2)
        codes, row, start = window_codes(flat, off, self.n, v + 3)
        return codes, row, start, offsets.size - 1

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        values, _ = sequences(X)
        self.vocabulary_ = np.unique(values)
        codes, _, _, _ = self._windows(X)
        self.ngrams_ = np.unique(codes)
        return self

    def _unseen(self, codes: np.ndarray) -> np.ndarray:
        if self.ngrams_.size == 0:
            return np.ones(codes.size, dtype=bool)
        pos = np.clip(np.searchsorted(self.ngrams_, codes), 0, self.ngrams_.size - 1)
        return np.asarray(self.ngrams_[pos] != codes)

    def score(self, X: pl.DataFrame) -> np.ndarray:
        check_fitted(self, "ngrams_")
        codes, row, _, n = self._windows(X)
        return per_session_mean(self._unseen(codes).astype(np.float64), row, n)

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        check_fitted(self, "ngrams_")
        sub = X[list(rows)]
        codes, row, start, _ = self._windows(sub)
        unseen = self._unseen(codes)
        scores = per_session_mean(unseen.astype(np.float64), row, sub.height)
        out: list[Explanation] = []
        for r in range(sub.height):
            seq = sub["templates"][r].to_list()
            hits = start[(row == r) & unseen]
            contribs = []
            for s in hits[:5].tolist():
                lo = max(0, s - (self.n - 1))
                window = seq[lo: s + 1]
                contribs.append(Contribution(
                    feature=f"window ending at event {min(s, len(seq) - 1)}",
                    value=" ".join(map(str, window)), baseline="never seen in training",
                    contribution=1.0 / max(1, (row == r).sum()),
                    detail=f"{self.n}-gram of templates {window} is new",
                ))
            out.append(Explanation(
                text=(f"{hits.size} of {(row == r).sum()} template {self.n}-grams unseen in "
                      f"training (score {scores[r]:.3f})"),
                contributions=tuple(contribs),
                extra={"unseen_positions": hits.tolist()},
            ))
        return out

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "ngrams_")
        return {"n_ngrams": int(self.ngrams_.size)}, {
            "vocabulary": self.vocabulary_, "ngrams": self.ngrams_}

    @classmethod
    def from_state(cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
                   arrays: dict[str, np.ndarray]) -> Self:
        det = cls(**params)
        det.vocabulary_ = np.asarray(arrays["vocabulary"], dtype=np.int64)
        det.ngrams_ = np.asarray(arrays["ngrams"], dtype=np.int64)
        return det
