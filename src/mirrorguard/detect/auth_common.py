"""Shared machinery of the auth and web detectors: trailing windows, policy floors, alerts.

Windowed scores are computed with Polars ``DataFrame.rolling`` grouped by the entity (source
address, user): for every event, the aggregate over the same entity's events in the trailing
window ``(t - window, t]``. Events of one entity with equal times are spread by 1 µs steps so
that every window ends at its own event, whose row position (the last in its window) labels
the output row.

Thresholds: each detector has a ``floor`` (the least evidence that may alert, e.g. "more than
4 failures") and, once fitted on benign events, a
:class:`~mirrorguard.detect.policy.ThresholdPolicy`
for a target false-positive rate. The operative threshold is the larger of the two: benign
data can only make a detector stricter, never looser than its floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector
from mirrorguard.detect.common import check_fitted
from mirrorguard.detect.policy import ThresholdPolicy
from mirrorguard.features.authevents import classify
from mirrorguard.schema.alerts import Alert, Explanation, Severity

ROW = "__row"
MIN_POLICY_SCORES = 50


def ensure_classified(X: pl.DataFrame) -> pl.DataFrame:
    """``X`` with the per-event auth columns (runs :func:`classify` when they are missing)."""
    if "auth.kind" in X.columns:
        return X
    if "message" not in X.columns and "event.original" not in X.columns:
        return X.with_columns(pl.lit("info").alias("auth.kind"), pl.lit(False).alias("auth.flag"))
    return classify(X)


def column(X: pl.DataFrame, name: str, dtype: pl.DataType | None = None) -> pl.Expr:
    """``pl.col(name)``, or a null literal of ``dtype`` (string) when ``X`` lacks the column."""
    return pl.col(name) if name in X.columns else pl.lit(None, dtype or pl.String())


def windowed(frame: pl.DataFrame, key: str, window: str,
             aggs: Sequence[pl.Expr]) -> pl.DataFrame:
    """Per row of ``frame`` (with ``__row`` and ``@timestamp``), ``aggs`` over the rows of the
    same ``key`` in the trailing ``window``. Rows without a key or time are left out."""
    f = frame.filter(pl.col(key).is_not_null() & pl.col("@timestamp").is_not_null())
    # ties broken by 1 µs steps, so that each row's window ends exactly at that row
    f = f.sort([key, "@timestamp", ROW]).with_columns(
        (pl.col("@timestamp") + pl.duration(microseconds=pl.int_range(pl.len())
                                            .over(key, "@timestamp"))).alias("__t"))
    f = f.sort([key, "__t"])
    agg = f.rolling(index_column="__t", period=window, group_by=key).agg(
        [pl.col(ROW).last().alias("__self"), *aggs])
    return agg.drop(key, "__t").rename({"__self": ROW})


def scatter(n: int, rows: pl.Series, values: pl.Series) -> np.ndarray:
    """A float64 array of length ``n``: ``values`` at ``rows``, 0 elsewhere."""
    out = np.zeros(n, dtype=np.float64)
    if rows.len():
        out[rows.to_numpy()] = values.cast(pl.Float64).fill_null(0.0).to_numpy()
    return out


def fit_threshold(scores: np.ndarray, floor: float,
                  target_fpr: float) -> tuple[float, ThresholdPolicy | None]:
    """``max(floor, policy threshold)`` and the fitted policy (None with too few scores)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size < MIN_POLICY_SCORES:
        return float(floor), None
    policy = ThresholdPolicy(target_fpr=target_fpr).fit(s)
    return max(float(floor), float(policy.threshold_)), policy


def policy_meta(policy: ThresholdPolicy | None) -> dict[str, Any] | None:
    return None if policy is None else policy.to_dict()


def policy_from_meta(meta: dict[str, Any] | None) -> ThresholdPolicy | None:
    return None if meta is None else ThresholdPolicy.from_dict(meta)


def severity_for(score: float, threshold: float) -> Severity:
    """Severity from how far a score is above its threshold."""
    ratio = score / threshold if threshold > 0 else float("inf")
    if ratio >= 4:
        return Severity.HIGH
    return Severity.MEDIUM if ratio >= 1.5 else Severity.LOW


def event_time(X: pl.DataFrame, row: int) -> datetime:
    if "@timestamp" in X.columns and X["@timestamp"][row] is not None:
        t: datetime = X["@timestamp"][row]
        return t
    return datetime.now(UTC)


def build_alerts(detector: str, X: pl.DataFrame, scores: np.ndarray, threshold: float,
                 key: str, explanations: dict[int, Explanation], techniques: tuple[str, ...],
                 title: str) -> list[Alert]:
    """One alert per entity value: its highest-scoring row above ``threshold``."""
    hit = np.flatnonzero(scores > threshold)
    if hit.size == 0 or key not in X.columns:
        return []
    cand = pl.DataFrame({ROW: hit, "k": X[key].gather(hit), "s": scores[hit]})
    best = cand.sort("s", descending=True).unique("k", keep="first", maintain_order=True)
    ids = X["event.id"] if "event.id" in X.columns else None
    alerts = []
    for row, k, s in best.iter_rows():
        evid = tuple(str(ids[i]) for i in cand.filter(pl.col("k") == k)[ROW]) if ids is not None \
            else ()
        kind = "user" if key == "user.name" else "ip"
        alerts.append(Alert(
            time=event_time(X, row), detector=detector, score=float(s),
            severity=severity_for(float(s), threshold),
            explanation=explanations[row], entities={kind: (str(k),)},
            techniques=techniques, evidence=evid[:200], title=f"{title}: {k}"))
    return alerts


def minutes(window: str) -> str:
    """A window such as ``10m`` as words (for explanations)."""
    units = {"s": "s", "m": "min", "h": "h", "d": "d"}
    return f"{window[:-1]} {units.get(window[-1], window[-1])}"


class ThresholdedDetector(Detector):
    """Base of the auth and web detectors: a fitted ``threshold_`` (floor or policy) and its
    policy are their whole learned state, and alerts are the rows scoring above it."""

    threshold_: float
    policy_: ThresholdPolicy | None
    techniques: ClassVar[tuple[str, ...]] = ()

    def _threshold_alerts(self, X: pl.DataFrame, frame: pl.DataFrame, key: str,
                          title: str) -> list[Alert]:
        """One alert per ``key`` value above ``threshold_``; ``frame`` supplies the entities."""
        check_fitted(self, "threshold_")
        s = self.score(X)
        rows = np.flatnonzero(s > self.threshold_)
        expl = dict(zip(rows.tolist(), self.explain(X, rows.tolist()), strict=True))
        return build_alerts(self.name, frame, s, self.threshold_, key, expl, self.techniques,
                            title)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        check_fitted(self, "threshold_")
        return {"threshold": self.threshold_, "policy": policy_meta(self.policy_)}, {}

    @classmethod
    def from_state(cls, params: dict[str, Any], meta: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Self:
        self = cls(**params)
        self.threshold_ = float(meta["threshold"])
        self.policy_ = policy_from_meta(meta["policy"])
        return self
