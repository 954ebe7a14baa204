"""Beaconing detection on Zeek conn/dns/ssl events: periodicity, size, duration and count.

Command-and-control implants call home on a timer ("sleep" with jitter); benign people do not.
Per communication pair (see :mod:`mirrorguard.detect.beacon_stats`: IP pair, IP+port, or
source+FQDN from DNS questions and TLS SNI) this detector combines:

* **periodicity** — the best of three views of the inter-arrival times, each in [0, 1]:
  (a) RITA-style regularity ``(1 - MAD/median) · (1 - |Bowley skew| / 2)`` on raw gaps,
  (b) the same on missed-beat corrected gaps (a gap of ``k`` periods counts as ``k`` beats),
  penalised when more than 30 % of gaps needed correction, and (c) phase coherence (the
  periodogram at the estimated period; robust to missed beats). RITA: Active Countermeasures,
  *RITA beacon analysis* (Bowley skewness and MAD of connection intervals and data sizes);
  Bowley, *Elements of Statistics* (1901) for the quartile skewness.
* **continuity** — beats seen / beats expected over the pair's active span at the estimated
  period. Bursty human traffic (many short gaps, long idle hours) scores near 0.
* **Poisson null** — missed-beat correction lets random (exponential-gap) traffic look
  periodic, so periodicity and continuity are both multiplied by the evidence against random
  arrivals: ``min(1, -log10(p) / 3)`` where ``p`` (column ``poisson_p``, see
  :func:`poisson_p`) is the binomial probability of seeing as few gaps shorter than 0.4 × the
  median gap as observed, had the arrivals been Poisson (each such gap has probability
  ``1 - 2 ** -0.4`` ≈ 0.24). Full credit needs ``p <= 0.001``; a timer with jitter up to 50 %
  never makes such gaps. Poisson traffic with 10–60 events a day scores about 0.13 (median),
  99 % of pairs below 0.5.
* **persistence** — active span over ``min(persist_s, window / 2)``: beacons keep calling for
  hours (RITA's later versions score the spread of connections over the day for the same
  reason); a scripted burst of a few minutes does not.
* **count** — ``log(n) / log(full_count)``, capped at 1.
* **size** and **duration consistency** — ``1 - MAD/median`` of bytes and duration per beat,
  when the source carries them (conn/ssl with bytes; DNS questions alone do not).

``score`` is the weighted *geometric* mean of the components (weights in ``_WEIGHTS``;
size/duration drop out when the source has no bytes), so a pair must be periodic, continuous
and persistent at once to score high.

Benign periodic traffic (NTP, update checks, monitoring polls) *is* periodic and scores high;
it is handled with an explicit :class:`~mirrorguard.detect.beacon_allow.AllowList` that also
applies to stored data, not by weakening the score.

>>> import polars as pl
>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> ts = [t0 + timedelta(seconds=300 * i) for i in range(40)]
>>> f = pl.DataFrame({"@timestamp": ts, "source.ip": ["10.0.0.7"] * 40,
...                   "destination.ip": ["203.0.113.5"] * 40, "source.bytes": [310] * 40,
...                   "event.id": [f"e{i}" for i in range(40)]})
>>> det = BeaconDetector(levels=("ip",)).fit(f)
>>> found = det.findings(f)
>>> found["score"][0] > 0.9, found["explanation"][0].startswith("10.0.0.7 -> 203.0.113.5")
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector, JSONValue
from mirrorguard.detect.beacon_stats import LEVEL_KEYS, SHORT_GAP, keyed_events, pair_stats
from mirrorguard.errors import SchemaError
from mirrorguard.schema.alerts import Alert, Contribution, Explanation, Severity

FINDING_COLUMNS = (
    "level", "source", "destination", "score", "periodicity", "continuity", "count_score",
    "persistence", "size_score", "duration_score", "period_s", "jitter", "missed_frac",
    "poisson_p",
    "n_beats", "n_events",
    "first_t", "last_t", "bytes_med", "explanation", "evidence",
)


def _regularity(q1: str, med: str, q3: str, mad: str) -> pl.Expr:
    """RITA-style regularity in [0, 1] from quartiles and MAD of a set of gaps."""
    iqr = pl.col(q3) - pl.col(q1)
    bowley = pl.when(iqr > 0).then((pl.col(q3) + pl.col(q1) - 2 * pl.col(med)) / iqr).otherwise(0)
    disp = pl.when(pl.col(med) > 0).then(pl.col(mad) / pl.col(med)).otherwise(1.0)
    return (1 - disp.clip(0, 1)) * (1 - bowley.abs().clip(0, 1) / 2)


def _consistency(med: str, mad: str) -> pl.Expr:
    """``1 - MAD/median`` of a size-like quantity; 1 for a constant (even all-zero) value."""
    return (
        pl.when(pl.col(med).is_null())
        .then(None)
        .when(pl.col(mad) == 0)
        .then(1.0)
        .when(pl.col(med) > 0)
        .then(1 - (pl.col(mad) / pl.col(med)).clip(0, 1))
        .otherwise(0.0)
    )


#: P(gap < SHORT_GAP x median) for exponential (Poisson-process) gaps: 1 - 2 ** -SHORT_GAP
_Q_SHORT = 1.0 - 2.0 ** -SHORT_GAP
#: full credit for periodicity once the Poisson null is rejected at p <= 10 ** -_REJECT_LOG10
_REJECT_LOG10 = 3.0


def poisson_p(stats: pl.DataFrame) -> np.ndarray:
    """Per pair, P(as few short gaps as observed | Poisson arrivals): a binomial tail.

    Random (Poisson) arrivals have exponential gaps, and an exponential gap is shorter than
    ``SHORT_GAP`` times the median gap with probability ``1 - 2 ** -SHORT_GAP`` (about 0.24):
    memoryless traffic keeps producing short gaps. A timer with jitter up to 50 % does not
    (its sleeps stay above half the period), and missed beats only lengthen gaps. Missed-beat
    correction can make any gap sequence look regular, so periodicity and continuity only count
    as far as this test rejects the Poisson null (the median is estimated from the same gaps, so
    the test is approximate).
    """
    from scipy.stats import binom

    if stats.height == 0:
        return np.zeros(0)
    m = stats["short_gaps"].to_numpy().astype(np.float64)
    n = stats["n_gaps"].to_numpy().astype(np.float64)
    return np.asarray(binom.cdf(m, np.maximum(n, 1.0), _Q_SHORT), dtype=np.float64)


_WEIGHTS = {"periodicity": 0.35, "continuity": 0.25, "persistence": 0.2, "count_score": 0.05,
            "size_score": 0.1, "duration_score": 0.05}


def score_components(
    stats: pl.DataFrame, *, full_count: int = 24, persist_s: float = 6 * 3600,
    window_s: float | None = None,
) -> pl.DataFrame:
    """Add the component scores and the combined ``score`` to :func:`pair_stats` output.

    ``persistence`` is the pair's active span over ``min(persist_s, window_s / 2)`` (capped at
    1): a beacon keeps calling for hours, a scripted burst does not. ``window_s`` is the span of
    the observed data (defaults to the span of the pairs themselves).
    """
    if window_s is None:
        window_s = (
            float(np.max(stats["last_t"].to_numpy()) - np.min(stats["first_t"].to_numpy()))
            if stats.height else 0.0
        )
    ref = max(min(persist_s, window_s / 2), 1.0)
    stats = stats.with_columns(pl.Series("poisson_p", poisson_p(stats), dtype=pl.Float64))
    evidence = (-(pl.col("poisson_p").clip(1e-12, 1).log10()) / _REJECT_LOG10).clip(0, 1)
    corr_penalty = (1 - (pl.col("missed_frac") - 0.3).clip(0, 1) / 0.7).clip(0, 1)
    periodicity = pl.max_horizontal(
        _regularity("gap_q1", "gap_med", "gap_q3", "gap_mad"),
        _regularity("cgap_q1", "cgap_med", "cgap_q3", "cgap_mad") * corr_penalty,
        pl.col("phase_r") * (1 - pl.col("outage_frac")),
    )
    span = pl.col("last_t") - pl.col("first_t")
    expected = pl.when(pl.col("period_s") > 0).then(span / pl.col("period_s") + 1).otherwise(None)
    out = stats.with_columns(
        (periodicity.fill_null(0) * evidence).alias("periodicity"),
        ((pl.col("n_beats") / expected).clip(0, 1).fill_null(0) * evidence).alias("continuity"),
        (span / ref).clip(0, 1).alias("persistence"),
        (pl.col("n_beats").log() / math.log(full_count)).clip(0, 1).alias("count_score"),
        _consistency("bytes_med", "bytes_mad").alias("size_score"),
        _consistency("dur_med", "dur_mad").alias("duration_score"),
        pl.when(pl.col("cgap_med") > 0)
        .then(pl.col("cgap_mad") / pl.col("cgap_med"))
        .otherwise(None)
        .alias("jitter"),
    )
    return out.with_columns(_geometric_mean().alias("score"))


def _geometric_mean() -> pl.Expr:
    """Weighted geometric mean of the available components (each floored at 0.02).

    A beacon must be periodic *and* continuous *and* persistent: one component near zero pulls
    the score down, unlike an arithmetic mean. Missing size/duration drop out of the weights.
    """
    num = pl.lit(0.0)
    den = pl.lit(0.0)
    for name, w in _WEIGHTS.items():
        present = pl.col(name).is_not_null()
        num = num + pl.when(present).then(w * pl.col(name).clip(0.02, 1).log()).otherwise(0.0)
        den = den + pl.when(present).then(w).otherwise(0.0)
    return (num / den).exp()


def _fmt_period(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _explain_row(r: dict[str, Any], level: str) -> str:
    span_h = (r["last_t"] - r["first_t"]) / 3600
    jitter = r["jitter"] if r["jitter"] is not None else float("nan")
    size = ""
    if r["bytes_med"] is not None and r["size_score"] is not None:
        size = f", {r['bytes_med']:.0f} B per beat (size consistency {r['size_score']:.2f})"
    return (
        f"{r['source']} -> {r['destination']} ({level}): {r['n_beats']} beats over "
        f"{span_h:.1f} h, period ≈ {_fmt_period(r['period_s'])} (jitter ±{jitter:.0%}, "
        f"{r['missed_frac']:.0%} beats missed){size}; periodicity {r['periodicity']:.2f}, "
        f"continuity {r['continuity']:.2f}, score {r['score']:.2f}"
    )


def _destination_expr(level: str) -> pl.Expr:
    if level == "ip_port":
        return pl.format("{}:{}", "destination.ip", "destination.port")
    return pl.col(LEVEL_KEYS[level][1]).cast(pl.String)


class BeaconDetector(Detector):
    """Periodic-communication (beacon) scorer over pairs at several key levels.

    ``fit`` learns destination prevalence (how many distinct sources talk to each destination
    at each level), reported in explanations as context; scores do not depend on it.
    """

    name: ClassVar[str] = "beacon"

    def __init__(
        self,
        levels: Sequence[str] = ("ip", "fqdn"),
        min_beats: int = 8,
        merge_s: float = 1.0,
        k_max: int = 4,
        full_count: int = 24,
        persist_s: float = 6 * 3600,
    ) -> None:
        self.levels = levels
        self.min_beats = min_beats
        self.merge_s = merge_s
        self.k_max = k_max
        self.full_count = full_count
        self.persist_s = persist_s

    def _check(self) -> None:
        for level in self.levels:
            if level not in LEVEL_KEYS:
                raise SchemaError(f"unknown beacon level {level!r}; known: {sorted(LEVEL_KEYS)}")

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        """Learn destination prevalence per level; returns ``self``."""
        self._check()
        dest, level_col, n_src = [], [], []
        for level in self.levels:
            ev = keyed_events(X, level).with_columns(_destination_expr(level).alias("dest"))
            prev = ev.group_by("dest").agg(pl.col("source.ip").n_unique().alias("n")).collect()
            dest.extend(prev["dest"].to_list())
            n_src.extend(prev["n"].to_list())
            level_col.extend([level] * prev.height)
        self.prevalence_dest_ = np.array(dest, dtype=str)
        self.prevalence_level_ = np.array(level_col, dtype=str)
        self.prevalence_n_ = np.array(n_src, dtype=np.int64)
        self.n_sources_ = int(X["source.ip"].n_unique()) if "source.ip" in X else 0
        return self

    def _level_findings(self, X: pl.DataFrame, level: str) -> pl.DataFrame:
        epoch = X["@timestamp"].dt.epoch("us").drop_nulls().to_numpy()
        window_s = float(epoch.max() - epoch.min()) / 1e6 if len(epoch) else 0.0
        keys = list(LEVEL_KEYS[level])
        stats = pair_stats(
            X, level, min_beats=self.min_beats, merge_s=self.merge_s, k_max=self.k_max
        )
        scored = score_components(
            stats, full_count=self.full_count, persist_s=self.persist_s, window_s=window_s
        ).with_columns(
            pl.lit(level).alias("level"),
            pl.col("source.ip").alias("source"),
            _destination_expr(level).alias("destination"),
        )
        rows = scored.select(
            [c for c in FINDING_COLUMNS if c not in ("explanation",)]
        ).to_dicts()
        text = [_explain_row(r, level) for r in rows]  # one line per finding, not per event
        out = scored.with_columns(pl.Series("explanation", text, dtype=pl.String))
        return out.select(*FINDING_COLUMNS, *[k for k in keys if k not in ("source.ip",)])

    def findings(self, X: pl.DataFrame) -> pl.DataFrame:
        """One row per scored pair and level (columns :data:`FINDING_COLUMNS`), best first."""
        self._check()
        parts = [self._level_findings(X, level).select(FINDING_COLUMNS) for level in self.levels]
        if not parts:
            return pl.DataFrame(schema=dict.fromkeys(FINDING_COLUMNS, pl.String()))
        return pl.concat(parts, how="vertical_relaxed").sort("score", descending=True)

    def score(self, X: pl.DataFrame) -> np.ndarray:
        """Per event: the highest score of any pair the event belongs to (0 if none scored)."""
        self._check()
        best = np.zeros(X.height, dtype=np.float64)
        indexed = X.with_row_index("__row")
        for level in self.levels:
            keys = list(LEVEL_KEYS[level])
            found = self._level_findings(X, level).select(
                *[k for k in keys if k != "source.ip"], pl.col("source").alias("source.ip"),
                "score",
            )
            ev = keyed_events(indexed, level, extra=("__row",)).select(*keys, "__row")
            joined = ev.join(found.lazy(), on=keys, how="inner").collect()
            np.maximum.at(best, joined["__row"].to_numpy(), joined["score"].to_numpy())
        return best

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        """Explanations of the best-scoring pair each given event belongs to."""
        found = self.findings(X)
        out: list[Explanation] = []
        sub = X[list(rows)]
        for r in sub.iter_rows(named=True):
            src = r.get("source.ip")
            dsts = {r.get("destination.ip"), (r.get("tls.server.name") or "").lower(),
                    (r.get("dns.question.name") or "").lower().rstrip(".")}
            cand = found.filter((pl.col("source") == src) & pl.col("destination").is_in(
                [d for d in dsts if d]))
            out.append(self._explanation(cand.row(0, named=True)) if cand.height else
                       Explanation(text="event not part of any scored pair"))
        return out

    def _explanation(self, r: dict[str, Any]) -> Explanation:
        comps = tuple(
            Contribution(feature=name, value=r[name], baseline=None, contribution=float(
                r[name] or 0.0))
            for name in ("periodicity", "continuity", "persistence", "count_score",
                         "size_score", "duration_score")
        )
        extra = {"period_s": r["period_s"], "jitter": r["jitter"], "missed_frac": r[
            "missed_frac"], "n_beats": r["n_beats"], "level": r["level"],
                 "sources_for_destination": self._prevalence(r["level"], r["destination"])}
        return Explanation(text=r["explanation"], contributions=comps, extra=extra)

    def _prevalence(self, level: str, dest: str) -> int | None:
        if not hasattr(self, "prevalence_dest_"):
            return None
        hit = (self.prevalence_dest_ == dest) & (self.prevalence_level_ == level)
        return int(self.prevalence_n_[hit][0]) if hit.any() else 0

    def alerts(self, X: pl.DataFrame, threshold: float) -> list[Alert]:
        """Alerts for pairs scoring at least ``threshold`` (the threshold comes from policy)."""
        found = self.findings(X).filter(pl.col("score") >= threshold)
        alerts = []
        for r in found.iter_rows(named=True):
            kind = "domain" if r["level"] == "fqdn" else "ip"
            ents = {"ip": (r["source"],), kind: (*(() if kind == "domain" else (r["source"],)),
                                                 r["destination"].split(":")[0])}
            sev = Severity.HIGH if r["score"] >= 0.9 else Severity.MEDIUM
            alerts.append(Alert(
                time=datetime.fromtimestamp(r["last_t"], tz=UTC), detector=self.name,
                score=float(r["score"]), severity=sev, explanation=self._explanation(r),
                entities=ents, techniques=("T1071", "T1573"), evidence=tuple(r["evidence"]),
                title=f"beaconing {r['source']} -> {r['destination']}",
            ))
        return alerts

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        """Prevalence tables as arrays (no object dtype, no pickle)."""
        meta: dict[str, JSONValue] = {"n_sources": self.n_sources_, "version": 1}
        return meta, {"prevalence_dest": self.prevalence_dest_,
                      "prevalence_level": self.prevalence_level_,
                      "prevalence_n": self.prevalence_n_}

    @classmethod
    def from_state(
        cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
        arrays: dict[str, np.ndarray],
    ) -> Self:
        det = cls(**params)
        det.prevalence_dest_ = np.asarray(arrays["prevalence_dest"], dtype=str)
        det.prevalence_level_ = np.asarray(arrays["prevalence_level"], dtype=str)
        det.prevalence_n_ = np.asarray(arrays["prevalence_n"], dtype=np.int64)
        det.n_sources_ = int(meta["n_sources"])
        return det
