"""Sigma correlation rules (Sigma specification 2.0, "Sigma Correlation Rules").

A correlation rule aggregates the matches of its base rules per ``group-by`` values over a
sliding ``timespan``:

* ``event_count`` — the number of matching events in the window satisfies the condition;
* ``value_count`` — the number of distinct values of ``condition.field`` does;
* ``temporal`` — every referenced rule matched within the window;
* ``temporal_ordered`` — they matched in the order listed.

Windows are Polars rolling windows (``DataFrame.rolling`` with ``group_by``), one per matching
event, ending at that event and reaching back ``timespan``. Group-by fields are resolved through
each base rule's own logsource mapping, so a field may live in different columns for different
rules. A firing window becomes one :class:`Firing`; consecutive firings of the same group less
than ``timespan`` apart are merged into the first (one alert per burst, not one per event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from mirrorguard.detect.sigma.compiler import CompiledCorrelation, CompiledRule
from mirrorguard.detect.sigma.errors import SigmaRuleError

_CMP = {"lt": "__lt__", "lte": "__le__", "gt": "__gt__", "gte": "__ge__",
        "eq": "__eq__", "neq": "__ne__"}


@dataclass(frozen=True)
class Firing:
    """One firing of a correlation rule: its group, window end, aggregate and evidence."""

    correlation: CompiledCorrelation
    group: dict[str, str]
    time: datetime
    value: float
    event_ids: tuple[str, ...]
    rows: tuple[int, ...]


def _text_expr(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Expr:
    present = [pl.col(c).cast(pl.String) for c in columns if c in frame.columns]
    if not present:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce(present) if len(present) > 1 else present[0]


def _events(corr: CompiledCorrelation, rules: Sequence[CompiledRule], frame: pl.DataFrame,
            matches: pl.DataFrame) -> pl.DataFrame:
    """Matched events of the base rules: time, event id, rule position, group keys, value."""
    index = {r.id: i for i, r in enumerate(rules)}
    parts: list[pl.DataFrame] = []
    for pos, rid in enumerate(corr.rules):
        if rid not in index:
            raise SigmaRuleError(f"base rule {rid} not in engine", kind="unresolved reference",
                                 file=corr.file, line=corr.line)
        rule = rules[index[rid]]
        rows = matches.filter(pl.col("rule") == index[rid])["row"]
        if rows.len() == 0:
            continue
        exprs = [pl.col("@timestamp").alias("t"), pl.col("event.id").cast(pl.String)
                 .alias("eid"), pl.lit(pos, dtype=pl.Int32).alias("ref")]
        for k, name in enumerate(corr.group_by):
            cols = rule.mapping.columns_for(name) or ()
            exprs.append(_text_expr(frame, cols).fill_null("").alias(f"g{k}"))
        vcols = rule.mapping.columns_for(corr.field) if corr.field else None
        exprs.append(_text_expr(frame, vcols or ()).alias("value"))
        sub = frame[rows.to_numpy()].select(exprs).with_columns(
            pl.Series("row", rows.to_numpy().astype(np.int64)))
        parts.append(sub)
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts).sort("t")


def _aggregate(corr: CompiledCorrelation, ev: pl.DataFrame) -> pl.DataFrame:
    keys = [f"g{k}" for k in range(len(corr.group_by))]
    if corr.type == "event_count":
        agg = pl.len().cast(pl.Float64).alias("value")
    elif corr.type == "value_count":
        agg = pl.col("value").drop_nulls().n_unique().cast(pl.Float64).alias("value")
    else:
        agg = pl.col("ref").n_unique().cast(pl.Float64).alias("value")
    grouped = ev.sort([*keys, "t"]).rolling(
        index_column="t", period=f"{max(corr.timespan_s, 1)}s", group_by=keys or None)
    return grouped.agg(agg, pl.col("eid"), pl.col("row"), pl.col("ref"),
                       pl.col("t").alias("times"))


def _in_order(refs: list[int], n: int) -> bool:
    """Whether 0, 1, …, n-1 occur as a subsequence of ``refs`` (time-ordered)."""
    want = 0
    for r in refs:
        if r == want:
            want += 1
            if want == n:
                return True
    return False


def evaluate_correlation(corr: CompiledCorrelation, rules: Sequence[CompiledRule],
                         frame: pl.DataFrame, matches: pl.DataFrame) -> list[Firing]:
    """Firings of one correlation rule over base-rule ``matches`` (rule, row) of ``frame``."""
    ev = _events(corr, rules, frame, matches)
    if ev.height == 0:
        return []
    win = _aggregate(corr, ev)
    n = len(corr.rules)
    if corr.type in ("temporal", "temporal_ordered"):
        fired = win.filter(pl.col("value") >= n)
    else:
        fired = win.filter(getattr(pl.col("value"), _CMP[corr.op])(corr.count))
    keys = [f"g{k}" for k in range(len(corr.group_by))]
    out: list[Firing] = []
    last: dict[tuple[str, ...], datetime] = {}
    for rec in fired.sort("t").iter_rows(named=True):
        if corr.type == "temporal_ordered" and not _in_order(list(rec["ref"]), n):
            continue
        gkey = tuple(str(rec[k]) for k in keys)
        prev = last.get(gkey)
        if prev is not None and (rec["t"] - prev).total_seconds() < corr.timespan_s:
            continue
        last[gkey] = rec["t"]
        out.append(Firing(corr, dict(zip(corr.group_by, gkey, strict=True)), rec["t"],
                          float(rec["value"]), tuple(rec["eid"]), tuple(rec["row"])))
    return out
