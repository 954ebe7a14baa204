"""Rare-template and new-parameter-value detectors.

* :class:`RareTemplate` scores a session by its rarest template: ``-log p(template)`` with
  add-one smoothing over the training frequencies, so a template never seen scores highest.
* :class:`NewParameterValue` scores single events (rows with ``template_id`` and a
  ``parameters`` list, from :meth:`TemplateMiner.parameters`) by how many of their parameter
  values were never seen at that template slot in training. Slots that took more than
  ``max_distinct`` values in training are free-form (ids, counters) and ignored.

>>> import polars as pl
>>> ev = pl.DataFrame({"template_id": [0, 0, 0], "parameters": [["root"], ["root"], ["bob"]]})
>>> det = NewParameterValue(max_distinct=5).fit(ev[:2])
>>> det.score(ev).tolist()
[0.0, 0.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector, JSONValue
from mirrorguard.detect.logs._common import check_fitted, encode, per_session_max, sequences
from mirrorguard.errors import SchemaError
from mirrorguard.schema.alerts import Contribution, Explanation


class RareTemplate(Detector):
    """``max -log p(template)`` over a session's events (unseen templates: the maximum)."""

    name: ClassVar[str] = "log.rare_template"

    def __init__(self) -> None:
        pass

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        values, _ = sequences(X)
        self.vocabulary_, self.counts_ = np.unique(values, return_counts=True)
        return self

    def _surprise(self, values: np.ndarray) -> np.ndarray:
        idx = encode(values, self.vocabulary_)
        counts = np.concatenate([[0], self.counts_])[idx]
        total = float(self.counts_.sum())
        return np.asarray(-np.log((counts + 1.0) / (total + self.vocabulary_.size + 1.0)))

    def score(self, X: pl.DataFrame) -> np.ndarray:
        check_fitted(self, "counts_")
        values, offsets = sequences(X)
        row = np.repeat(np.arange(X.height), np.diff(offsets))
        return per_session_max(self._surprise(values), row, X.height)

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        check_fitted(self, "counts_")
        out = []
        total = float(self.counts_.sum())
        for r in rows:
            seq = np.asarray(X["templates"][int(r)].to_list(), dtype=np.int64)
            if seq.size == 0:
                out.append(Explanation(text="empty session"))
                continue
            s = self._surprise(seq)
            pos = int(np.argmax(s))
            idx = int(encode(seq[pos: pos + 1], self.vocabulary_)[0])
            seen = int(self.counts_[idx - 1]) if idx else 0
            out.append(Explanation(
                text=(f"template {int(seq[pos])} at event {pos} was seen {seen} times in "
                      f"{int(total)} training events"),
                contributions=(Contribution(
                    feature=f"event {pos}", value=int(seq[pos]), baseline=seen,
                    contribution=float(s[pos]), detail="training occurrences as baseline"),),
            ))
        return out

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "counts_")
        return {}, {"vocabulary": self.vocabulary_, "counts": self.counts_}

    @classmethod
    def from_state(cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
                   arrays: dict[str, np.ndarray]) -> Self:
        det = cls(**params)
        det.vocabulary_ = np.asarray(arrays["vocabulary"], dtype=np.int64)
        det.counts_ = np.asarray(arrays["counts"], dtype=np.int64)
        return det


def _slots(X: pl.DataFrame) -> pl.DataFrame:
    """One row per (event row, template, slot, value)."""
    for col in ("template_id", "parameters"):
        if col not in X.columns:
            raise SchemaError(f"event frame lacks column {col!r}")
    return (
        X.select(pl.col("template_id").cast(pl.Int64), pl.col("parameters"))
        .with_row_index("row")
        .with_columns(pl.int_ranges(pl.col("parameters").list.len()).alias("slot"))
        .explode("parameters", "slot")
        .drop_nulls("slot")
        .rename({"parameters": "value"})
        .with_columns(pl.col("slot").cast(pl.Int64), pl.col("value").fill_null(""))
    )


class NewParameterValue(Detector):
    """Number of an event's parameter values unseen at their template slot in training."""

    name: ClassVar[str] = "log.new_parameter_value"

    def __init__(self, max_distinct: int = 50) -> None:
        self.max_distinct = max_distinct

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        seen = _slots(X).select("template_id", "slot", "value").unique()
        card = seen.group_by("template_id", "slot").len("n")
        self.free_slots_ = card.filter(pl.col("n") > self.max_distinct).drop("n")
        self.seen_ = seen.join(self.free_slots_, on=["template_id", "slot"], how="anti").sort(
            "template_id", "slot", "value")
        return self

    def _flags(self, X: pl.DataFrame) -> pl.DataFrame:
        check_fitted(self, "seen_")
        slots = _slots(X).join(self.free_slots_, on=["template_id", "slot"], how="anti")
        known = self.seen_.with_columns(pl.lit(True).alias("known"))
        return slots.join(known, on=["template_id", "slot", "value"], how="left").with_columns(
            pl.col("known").fill_null(False))

    def score(self, X: pl.DataFrame) -> np.ndarray:
        flags = self._flags(X).filter(~pl.col("known"))
        counts = flags.group_by("row").len("n")
        out = np.zeros(X.height, dtype=np.float64)
        out[counts["row"].to_numpy()] = counts["n"].to_numpy()
        return out

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        sub = X[list(rows)]
        new = self._flags(sub).filter(~pl.col("known"))
        out = []
        for r in range(sub.height):
            mine = new.filter(pl.col("row") == r)
            contribs = tuple(
                Contribution(feature=f"template {t} slot {s}", value=v,
                             baseline="not seen in training", contribution=1.0)
                for t, s, v in mine.select("template_id", "slot", "value").rows()
            )
            out.append(Explanation(
                text=f"{mine.height} parameter value(s) never seen for this template",
                contributions=contribs))
        return out

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "seen_")
        return {
            "seen": self.seen_.rows(),
            "free_slots": self.free_slots_.rows(),
        }, {}

    @classmethod
    def from_state(cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
                   arrays: dict[str, np.ndarray]) -> Self:
        det = cls(**params)
        schema = {"template_id": pl.Int64(), "slot": pl.Int64(), "value": pl.String()}
        det.seen_ = pl.DataFrame(meta["seen"], schema=schema, orient="row")
        det.free_slots_ = pl.DataFrame(
            meta["free_slots"], schema={k: schema[k] for k in ("template_id", "slot")},
            orient="row")
        return det
