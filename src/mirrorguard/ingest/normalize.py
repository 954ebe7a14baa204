"""Vectorised helpers parsers share: checked casts, time parsing, renames, reject building.

A value that cannot be converted to its field's dtype rejects its record with a reason naming
the field; it is never nulled silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import polars as pl

from mirrorguard.ingest.base import ParseContext, ParseResult, make_rejects
from mirrorguard.schema.fields import TIMESTAMP

RECORD = "mirrorguard.record"


class RawLines(Protocol):
    """Indexable raw records (a list of bytes, or :class:`~mirrorguard.ingest.lines.LazyLines`)."""

    def __getitem__(self, i: int, /) -> bytes: ...



def epoch_seconds_to_ts(col: str | pl.Expr) -> pl.Expr:
    """Float/int epoch seconds to a UTC microsecond timestamp."""
    e = pl.col(col) if isinstance(col, str) else col
    return (e.cast(pl.Float64) * 1_000_000).round(0).cast(pl.Int64).cast(TIMESTAMP)


def iso_to_ts(col: str | pl.Expr) -> pl.Expr:
    """ISO-8601 text (with or without offset / fraction / 'Z') to a UTC timestamp; bad → null."""
    e = pl.col(col) if isinstance(col, str) else col
    e = e.str.replace(r"([+-]\d\d)(\d\d)$", "$1:$2").str.replace(r" ", "T")
    return e.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)


def checked_cast(
    frame: pl.DataFrame, dtypes: Mapping[str, pl.DataType]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast columns to ``dtypes``; rows where a non-null value fails go to the second frame.

    The second frame has columns ``mirrorguard.record`` and ``reason``.
    """
    conversions = {
        name: (pl.col(name).cast(want, strict=False), str(want))
        for name, want in dtypes.items()
        if name in frame.columns and frame.schema[name] != want
    }
    return checked_convert(frame, conversions)


def checked_convert(
    frame: pl.DataFrame, conversions: Mapping[str, tuple[pl.Expr, str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply ``name -> (expr, target label)``; a non-null value converted to null rejects its row.

    Each expression must map null to null (casts and ``when/then`` chains ending in ``None``
    do). Returns ``(converted good rows, rejects with mirrorguard.record and reason)``.
    """
    if not conversions:
        return frame, pl.DataFrame(schema={RECORD: pl.Int64, "reason": pl.String})
    # The usual case, nothing fails, proved with null counts alone: a conversion maps null to
    # null, so a column gains nulls exactly when one of its values failed.
    converted = frame.select([expr.alias(name) for name, (expr, _) in conversions.items()])
    if all(converted[n].null_count() == frame[n].null_count() for n in conversions):
        return frame.with_columns(converted), pl.DataFrame(
            schema={RECORD: pl.Int64, "reason": pl.String})
    fails = [
        pl.when(pl.col(name).is_not_null() & expr.is_null())
        .then(pl.format("field {}: cannot convert '{}' to {}", pl.lit(name),
                        pl.col(name).cast(pl.String).str.slice(0, 80), pl.lit(label)))
        .otherwise(None)
        for name, (expr, label) in conversions.items()
    ]
    reason = pl.coalesce(fails) if len(fails) > 1 else fails[0]
    checked = frame.with_columns(reason.alias("__reason"))
    if checked["__reason"].null_count() == checked.height:  # the usual case: nothing failed
        bad = checked.clear()
        good = checked.drop("__reason")
    else:
        bad = checked.filter(pl.col("__reason").is_not_null())
        good = checked.filter(pl.col("__reason").is_null()).drop("__reason")
    good = good.with_columns([expr.alias(name) for name, (expr, _) in conversions.items()])
    return good, bad.select(pl.col(RECORD), pl.col("__reason").alias("reason"))


def require_timestamp(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split off rows without a usable ``@timestamp``."""
    if "@timestamp" not in frame.columns:
        reason = pl.lit("missing or unparsable timestamp").alias("reason")
        bad = frame.select(pl.col(RECORD), reason)
        return frame.clear(), bad
    if frame["@timestamp"].null_count() == 0:  # the usual case: no copy of the frame
        return frame, pl.DataFrame(schema={RECORD: pl.Int64, "reason": pl.String})
    missing = pl.col("@timestamp").is_null()
    bad = frame.filter(missing).select(
        pl.col(RECORD), pl.lit("missing or unparsable timestamp").alias("reason")
    )
    return frame.filter(~missing), bad


def rejects_from_records(
    ctx: ParseContext,
    bad: pl.DataFrame,
    raw_by_record: Mapping[int, bytes] | RawLines,
    first_record: int = 1,
) -> pl.DataFrame:
    """Turn ``(mirrorguard.record, reason)`` rows into quarantine rows with raw bytes.

    ``raw_by_record`` is either a mapping record → raw bytes or a sequence indexed from
    ``first_record`` (e.g. the block's lines).
    """
    rows: list[tuple[int | None, int | None, str, bytes]] = []
    for rec, reason in bad.select(RECORD, "reason").iter_rows():
        if isinstance(raw_by_record, Mapping):
            raw = raw_by_record.get(rec, b"")
        else:
            raw = raw_by_record[rec - first_record]
        rows.append((rec, None, reason, raw))
    return make_rejects(ctx, rows)


def finish(
    frame: pl.DataFrame,
    ctx: ParseContext,
    *,
    offered: int,
    dtypes: Mapping[str, pl.DataType],
    raw: Mapping[int, bytes] | RawLines,
    first_record: int,
    early_rejects: pl.DataFrame | None = None,
    prior_bad: pl.DataFrame | None = None,
) -> ParseResult:
    """Checked casts + timestamp requirement, then one :class:`ParseResult`.

    ``prior_bad`` holds ``(mirrorguard.record, reason)`` rows a parser already split off.
    """
    good, bad_cast = checked_cast(frame, dtypes)
    good, bad_ts = require_timestamp(good)
    bad = pl.concat([b for b in (prior_bad, bad_cast, bad_ts) if b is not None])
    rejects = rejects_from_records(ctx, bad, raw, first_record) if bad.height else None
    parts = [r for r in (early_rejects, rejects) if r is not None and r.height]
    all_rejects = pl.concat(parts) if parts else make_rejects(ctx, [])
    return ParseResult(events=good, rejects=all_rejects, offered=offered)
