"""Next-template sequence model: a variable-order Markov model with Witten-Bell smoothing.

The task is DeepLog's (Du, Li, Zheng, Srikumar: "DeepLog: Anomaly Detection and Diagnosis from
System Logs through Deep Learning", CCS 2017): learn from normal sessions which template comes
next after the last ``history`` templates, then flag sessions holding a step the model finds
improbable. Instead of an LSTM the model is a back-off n-gram model (Witten & Bell, IEEE Trans.
Inf. Theory 1991; Chen & Goodman, "An Empirical Study of Smoothing Techniques for Language
Modeling", 1998), all in NumPy: counts of (context, next) pairs for every context length
``0..history``, interpolated so unseen contexts fall back to shorter ones. The end of a session
is a symbol too, so sessions that stop early are surprising.

A session's score is the largest surprise ``-log p(next | context)`` over its steps.

>>> import polars as pl
>>> normal = pl.DataFrame({"templates": [[1, 2, 3]] * 20 + [[1, 2, 2, 3]] * 5})
>>> model = NextTemplateModel(history=2).fit(normal)
>>> s = model.score(pl.DataFrame({"templates": [[1, 2, 3], [1, 3, 2]]}))
>>> bool(s[1] > s[0] + 2)
True
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
    per_session_max,
    sequences,
    window_codes,
)
from mirrorguard.schema.alerts import Contribution, Explanation


def _lookup(keys: np.ndarray, table: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Counts of ``keys`` in a sorted ``table`` (0 where absent)."""
    if table.size == 0:
        return np.zeros(keys.size, dtype=np.float64)
    pos = np.clip(np.searchsorted(table, keys), 0, table.size - 1)
    return np.where(table[pos] == keys, counts[pos], 0).astype(np.float64)


class NextTemplateModel(Detector):
    """Largest ``-log p(next template | previous templates)`` in a session (see module doc)."""

    name: ClassVar[str] = "log.next_template"

    def __init__(self, history: int = 4) -> None:
        self.history = history

    # ------------------------------------------------------------------ encoding

    def _steps(self, X: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Codes of (last ``history`` templates, next) per step; row and step position."""
        values, offsets = sequences(X)
        v = self.vocabulary_.size
        flat, off = pad(encode(values, self.vocabulary_), offsets, self.history, v + 1, v + 2)
        codes, row, start = window_codes(flat, off, self.history + 1, self.base_)
        return codes, row, start, offsets.size - 1

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        values, _ = sequences(X)
        self.vocabulary_ = np.unique(values)
        self.base_ = int(self.vocabulary_.size + 3)
        codes, _, _, _ = self._steps(X)
        self.tables_: dict[str, np.ndarray] = {}
        for k in range(self.history + 1):
            pair = codes % self.base_ ** (k + 1)
            pairs, pair_n = np.unique(pair, return_counts=True)
            ctx, ctx_n = np.unique(pair // self.base_, return_counts=True)
            types_ctx, types_n = np.unique(pairs // self.base_, return_counts=True)
            self.tables_.update({
                f"pair{k}": pairs, f"pair_n{k}": pair_n, f"ctx{k}": ctx, f"ctx_n{k}": ctx_n,
                f"types_ctx{k}": types_ctx, f"types_n{k}": types_n,
            })
        return self

    # ------------------------------------------------------------------ probabilities

    def _prob(self, codes: np.ndarray) -> np.ndarray:
        """Interpolated probability of each step's next symbol given its context."""
        b = self.base_
        nxt = codes % b
        unigram = _lookup(nxt, self.tables_["pair0"], self.tables_["pair_n0"])
        total = float(self.tables_["ctx_n0"].sum()) if self.tables_["ctx_n0"].size else 0.0
        p = (unigram + 1.0) / (total + b)
        for k in range(1, self.history + 1):
            pair = codes % b ** (k + 1)
            ctx = pair // b
            c_pair = _lookup(pair, self.tables_[f"pair{k}"], self.tables_[f"pair_n{k}"])
            c_ctx = _lookup(ctx, self.tables_[f"ctx{k}"], self.tables_[f"ctx_n{k}"])
            types = _lookup(ctx, self.tables_[f"types_ctx{k}"], self.tables_[f"types_n{k}"])
            seen = c_ctx > 0
            p = np.where(seen, (c_pair + types * p) / np.maximum(c_ctx + types, 1.0), p)
        return np.asarray(p)

    def step_surprise(self, X: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``-log p`` of every step, with its session row and position (the end = length)."""
        check_fitted(self, "tables_")
        codes, row, start, _ = self._steps(X)
        return -np.log(self._prob(codes)), row, start

    def score(self, X: pl.DataFrame) -> np.ndarray:
        surprise, row, _ = self.step_surprise(X)
        return per_session_max(surprise, row, X.height)

    # ------------------------------------------------------------------ explanations

    def _expected(self, codes_at: int) -> list[tuple[int | str, float]]:
        """Most likely next templates after the context of one step code (longest seen)."""
        b = self.base_
        for k in range(self.history, 0, -1):
            ctx = (codes_at % b ** (k + 1)) // b
            pairs = self.tables_[f"pair{k}"]
            lo, hi = np.searchsorted(pairs, [ctx * b, (ctx + 1) * b])
            if hi > lo:
                n = self.tables_[f"pair_n{k}"][lo:hi]
                top = np.argsort(-n, kind="stable")[:3]
                return [(self._symbol(int(pairs[lo + i] % b)), float(n[i] / n.sum()))
                        for i in top]
        return []

    def _symbol(self, idx: int) -> int | str:
        v = self.vocabulary_.size
        if idx == 0:
            return "unseen"
        if idx == v + 2:
            return "end"
        return "start" if idx == v + 1 else int(self.vocabulary_[idx - 1])

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        sub = X[list(rows)]
        check_fitted(self, "tables_")
        codes, row, start, _ = self._steps(sub)
        surprise = -np.log(self._prob(codes))
        out = []
        for r in range(sub.height):
            mine = np.flatnonzero(row == r)
            if mine.size == 0:
                out.append(Explanation(text="empty session"))
                continue
            worst = mine[np.argsort(-surprise[mine], kind="stable")[:3]]
            seq = sub["templates"][r].to_list()
            contribs = tuple(
                Contribution(
                    feature=f"event {int(start[i])}",
                    value=str(seq[int(start[i])]) if start[i] < len(seq) else "end",
                    baseline=", ".join(f"{t} ({p:.0%})" for t, p in self._expected(int(codes[i]))),
                    contribution=float(surprise[i]),
                    detail=f"p = {np.exp(-surprise[i]):.2g}" + (
                        "; template never seen in training"
                        if codes[i] % self.base_ == 0 else ""),
                )
                for i in worst
            )
            top = contribs[0]
            out.append(Explanation(
                text=(f"template {top.value} at {top.feature} was unexpected "
                      f"(p = {np.exp(-top.contribution):.2g}; expected {top.baseline or 'n/a'})"),
                contributions=contribs,
            ))
        return out

    # ------------------------------------------------------------------ state

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "tables_")
        return {"base": self.base_}, {"vocabulary": self.vocabulary_, **self.tables_}

    @classmethod
    def from_state(cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
                   arrays: dict[str, np.ndarray]) -> Self:
        det = cls(**params)
        det.vocabulary_ = np.asarray(arrays["vocabulary"], dtype=np.int64)
        det.base_ = int(meta["base"])
        det.tables_ = {k: np.asarray(v, dtype=np.int64) for k, v in arrays.items()
                       if k != "vocabulary"}
        return det
