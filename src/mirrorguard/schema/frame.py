"""EventFrames (columnar batches of normalised events) and their validation.

An EventFrame is a Polars DataFrame whose columns are ECS field names. Every frame carries
``@timestamp``, ``event.id``, ``event.dataset``; ``event.id`` is stable per record: the ingest
id of the source (derived from its content hash) and the record's ordinal in it.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from mirrorguard.errors import SchemaError
from mirrorguard.schema.fields import FIELDS

EventFrame = pl.DataFrame
REQUIRED = ("@timestamp", "event.id", "event.dataset")

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "member": pl.String(),
    "line": pl.Int64(),
    "offset": pl.Int64(),
    "reason": pl.String(),
    "raw": pl.Binary(),
}

_PRIMITIVE = (
    pl.String,
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
    pl.Float32,
    pl.Float64,
    pl.Boolean,
    pl.Datetime,
)


def empty_rejects() -> pl.DataFrame:
    """A zero-row rejects frame with the quarantine schema."""
    return pl.DataFrame(schema=REJECT_SCHEMA)


def _allowed_undeclared(dtype: pl.DataType) -> bool:
    if isinstance(dtype, _PRIMITIVE):
        return True
    return isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.String)


def validate_frame(
    frame: pl.DataFrame, dtypes: Mapping[str, pl.DataType] = FIELDS
) -> list[str]:
    """Problems that keep ``frame`` from being a valid EventFrame (empty list when valid)."""
    problems = [f"missing required field {name!r}" for name in REQUIRED if name not in frame]
    for name, dtype in frame.schema.items():
        want = dtypes.get(name)
        if want is not None and dtype != want:
            problems.append(f"field {name!r} has dtype {dtype}, expected {want}")
        elif want is None and not _allowed_undeclared(dtype):
            problems.append(f"undeclared field {name!r} has non-scalar dtype {dtype}")
    if "event.id" in frame and frame["event.id"].null_count():
        problems.append("event.id has nulls")
    return problems


def conform(frame: pl.DataFrame, dtypes: Mapping[str, pl.DataType] = FIELDS) -> pl.DataFrame:
    """Cast declared fields to their dtypes (strictly) and nested undeclared ones to JSON text.

    Raises :class:`SchemaError` when a value cannot be cast: parsers must not lose data silently.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        want = dtypes.get(name)
        if want is not None and dtype != want:
            exprs.append(pl.col(name).cast(want, strict=True))
        elif want is None and not _allowed_undeclared(dtype):
            exprs.append(_to_json_text(name, dtype))
    if not exprs:
        return frame
    try:
        return frame.with_columns(exprs)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise SchemaError(f"cannot conform frame: {exc}") from exc


def _to_json_text(name: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Struct | pl.List | pl.Array):
        return pl.col(name).struct.json_encode() if isinstance(dtype, pl.Struct) else (
            pl.col(name).cast(pl.List(pl.String), strict=False).list.join(",")
        )
    return pl.col(name).cast(pl.String)
