"""Per-pair timing, size and duration statistics for beacon detection (vectorised in Polars).

A *pair* is a communication key: (source.ip, destination.ip), (source.ip, destination.ip,
destination.port) or (source.ip, FQDN) where the FQDN is ``tls.server.name`` or else
``dns.question.name``. Events of one pair closer than ``merge_s`` seconds to the previous
event are one *beat* (a DNS lookup followed by its TLS connection, duplicated log lines).

For every pair with at least ``min_beats`` beats this module computes, over whole frames at
once (group-bys and window expressions, no Python loop per pair):

* raw inter-arrival quartiles, median absolute deviation (MAD) and Bowley skewness — the
  dispersion/skew measures RITA (Active Countermeasures, "Real Intelligence Threat Analytics")
  publishes for its beacon score;
* the same statistics on *missed-beat corrected* gaps: each gap divided by ``k``, its nearest
  integer multiple of the median gap (``1 <= k <= k_max``), so that a dropped beat (a gap of
  2P or 3P) does not count as irregularity;
* a phase-coherence (epoch-folding / Rayleigh) statistic ``R = |mean(exp(2πi t / P))|`` at the
  period ``P = span / Σk``: the periodogram evaluated at the estimated frequency. Missed beats
  leave ``R`` intact; accumulated jitter lowers it;
* continuity: beats observed divided by beats expected over the pair's active span;
* size (``source.bytes + destination.bytes``) and duration MAD/median per beat.

>>> import polars as pl
>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> f = pl.DataFrame({"@timestamp": [t0 + timedelta(seconds=60 * i) for i in range(30)],
...                   "source.ip": ["10.0.0.1"] * 30, "destination.ip": ["192.0.2.9"] * 30})
>>> s = pair_stats(f, "ip", min_beats=6)
>>> round(s["period_s"][0], 1), s["n_beats"][0]
(60.0, 30)
"""

from __future__ import annotations

import math

import polars as pl

from mirrorguard.errors import SchemaError

LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    "ip": ("source.ip", "destination.ip"),
    "ip_port": ("source.ip", "destination.ip", "destination.port"),
    "fqdn": ("source.ip", "fqdn"),
}

#: a gap is *short* below this fraction of the pair's median gap (see :func:`pair_stats`)
SHORT_GAP = 0.4

_OPTIONAL = {
    "destination.ip": pl.String(),
    "destination.port": pl.Int32(),
    "source.bytes": pl.Int64(),
    "destination.bytes": pl.Int64(),
    "event.duration": pl.Int64(),
    "dns.question.name": pl.String(),
    "tls.server.name": pl.String(),
    "event.id": pl.String(),
}


def fqdn_expr() -> pl.Expr:
    """Normalised FQDN: TLS SNI when present, else the DNS question; lower case, no final dot."""
    name = pl.coalesce(
        pl.col("tls.server.name").replace("", None), pl.col("dns.question.name").replace("", None)
    )
    return name.str.to_lowercase().str.strip_chars_end(".").alias("fqdn")


def with_optional_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every optional beacon column present (nulls where the source lacks it)."""
    for col in ("@timestamp", "source.ip"):
        if col not in frame.columns:
            raise SchemaError(f"beacon detection needs column {col!r}")
    missing = [pl.lit(None, dtype=dt).alias(c) for c, dt in _OPTIONAL.items() if c not in frame]
    return frame.with_columns(missing) if missing else frame


def keyed_events(
    frame: pl.DataFrame, level: str, extra: tuple[str, ...] = ()
) -> pl.LazyFrame:
    """Events with their pair key at ``level``, epoch seconds, bytes and duration in seconds."""
    if level not in LEVEL_KEYS:
        raise SchemaError(f"unknown beacon level {level!r}; known: {sorted(LEVEL_KEYS)}")
    keys = list(LEVEL_KEYS[level])
    lf = with_optional_columns(frame).lazy().with_columns(fqdn_expr())
    return lf.select(
        *keys,
        (pl.col("@timestamp").dt.epoch("us").cast(pl.Float64) / 1e6).alias("t"),
        pl.when(pl.col("source.bytes").is_null() & pl.col("destination.bytes").is_null())
        .then(None)
        .otherwise(pl.col("source.bytes").fill_null(0) + pl.col("destination.bytes").fill_null(0))
        .cast(pl.Float64)
        .alias("bytes"),
        (pl.col("event.duration").cast(pl.Float64) / 1e9).alias("dur"),
        pl.col("event.id"),
        *extra,
    ).drop_nulls(keys)


def beats(events: pl.LazyFrame, keys: list[str], merge_s: float) -> pl.LazyFrame:
    """Collapse each pair's events closer than ``merge_s`` into beats; add the gap before each."""
    gap = pl.col("t").diff().over(keys)
    lf = events.sort([*keys, "t"]).with_columns(
        (gap.is_null() | (gap >= merge_s)).cast(pl.Int64).cum_sum().over(keys).alias("beat")
    )
    agg = lf.group_by([*keys, "beat"]).agg(
        pl.col("t").min(),
        pl.col("bytes").sum(),
        pl.col("bytes").is_not_null().any().alias("has_bytes"),
        pl.col("dur").max(),
        pl.len().alias("n_events"),
        pl.col("event.id").first().alias("first_id"),
    )
    return agg.sort([*keys, "t"]).with_columns(
        pl.when(pl.col("has_bytes")).then(pl.col("bytes")).otherwise(None).alias("bytes"),
        pl.col("t").diff().over(keys).alias("gap"),
    )


def _robust(col: str, prefix: str) -> list[pl.Expr]:
    return [
        pl.col(col).quantile(0.25, "linear").alias(f"{prefix}_q1"),
        pl.col(col).median().alias(f"{prefix}_med"),
        pl.col(col).quantile(0.75, "linear").alias(f"{prefix}_q3"),
    ]


def _first_pass(bt: pl.LazyFrame, keys: list[str], min_beats: int) -> pl.LazyFrame:
    return (
        bt.group_by(keys)
        .agg(
            pl.len().alias("n_beats"),
            pl.col("n_events").sum().alias("n_events"),
            pl.col("t").min().alias("first_t"),
            pl.col("t").max().alias("last_t"),
            *_robust("gap", "gap"),
            pl.col("bytes").median().alias("bytes_med"),
            pl.col("dur").median().alias("dur_med"),
            pl.col("first_id").drop_nulls().head(20).alias("evidence"),
        )
        .filter(pl.col("n_beats") >= min_beats)
    )


def _second_pass(
    bt: pl.LazyFrame, first: pl.LazyFrame, keys: list[str], k_max: int
) -> pl.LazyFrame:
    med = pl.col("gap_med")
    k = (pl.col("gap") / med).round().clip(1, k_max)
    joined = bt.join(first.select(*keys, "gap_med", "bytes_med", "dur_med"), on=keys, how="inner")
    joined = joined.with_columns(
        (pl.col("gap") - med).abs().alias("gap_dev"),
        k.alias("k"),
        (pl.col("gap") / k).alias("cgap"),
        (pl.col("bytes") - pl.col("bytes_med")).abs().alias("bytes_dev"),
        (pl.col("dur") - pl.col("dur_med")).abs().alias("dur_dev"),
    )
    return joined.group_by(keys).agg(
        pl.col("gap_dev").median().alias("gap_mad"),
        *_robust("cgap", "cgap"),
        (pl.col("k").drop_nulls() > 1).mean().alias("missed_frac"),
        pl.col("k").sum().alias("k_sum"),
        (pl.col("gap") > (k_max + 0.5) * med).mean().alias("outage_frac"),
        (pl.col("gap") < SHORT_GAP * med).sum().alias("short_gaps"),
        pl.col("gap").is_not_null().sum().alias("n_gaps"),
        pl.col("bytes_dev").median().alias("bytes_mad"),
        pl.col("dur_dev").median().alias("dur_mad"),
    )


def _third_pass(bt: pl.LazyFrame, stats: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Corrected-gap MAD and phase coherence at the span-based period."""
    joined = bt.join(stats.select(*keys, "cgap_med", "k_sum", "first_t", "last_t"), on=keys)
    period = (pl.col("last_t") - pl.col("first_t")) / pl.col("k_sum")
    phase = 2 * math.pi * (pl.col("t") - pl.col("first_t")) / period
    k_fix = (pl.col("gap") / pl.col("cgap_med")).round().clip(lower_bound=1)
    return joined.group_by(keys).agg(
        (pl.col("gap") / k_fix - pl.col("cgap_med")).abs().median().alias("cgap_mad"),
        (phase.cos().mean() ** 2 + phase.sin().mean() ** 2).sqrt().alias("phase_r"),
        period.first().alias("period_span_s"),
    )


def pair_stats(
    frame: pl.DataFrame,
    level: str,
    *,
    min_beats: int = 8,
    merge_s: float = 1.0,
    k_max: int = 4,
) -> pl.DataFrame:
    """One row per pair at ``level`` with at least ``min_beats`` beats and its raw statistics.

    Columns: the level's key columns, ``n_beats``, ``n_events``, ``first_t``/``last_t`` (epoch
    s), gap quartiles (``gap_q1/med/q3``), ``gap_mad``, corrected-gap quartiles and MAD,
    ``missed_frac``, ``outage_frac``, ``phase_r``, ``period_s``, byte/duration medians and MADs,
    ``evidence`` (up to 20 event ids).
    """
    keys = list(LEVEL_KEYS[level])
    bt = beats(keyed_events(frame, level), keys, merge_s).cache()
    first = _first_pass(bt, keys, min_beats)
    second = first.join(_second_pass(bt, first, keys, k_max), on=keys)
    third = second.join(_third_pass(bt, second, keys), on=keys)
    out = third.with_columns(pl.col("cgap_med").alias("period_s")).collect()
    return out.sort(keys)
