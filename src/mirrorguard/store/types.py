"""Polars dtype ↔ DuckDB type names for the columns the store creates."""

from __future__ import annotations

import polars as pl

_SIMPLE: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Int8: "TINYINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt8: "UTINYINT",
    pl.UInt16: "USMALLINT",
    pl.UInt32: "UINTEGER",
    pl.UInt64: "UBIGINT",
    pl.Float32: "FLOAT",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.Binary: "BLOB",
    pl.Date: "DATE",
}


def duckdb_type(dtype: pl.DataType) -> str:
    """The DuckDB column type that holds a Polars dtype without loss."""
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        return f"{duckdb_type(inner if isinstance(inner, pl.DataType) else inner())}[]"
    for cls, name in _SIMPLE.items():
        if isinstance(dtype, cls):
            return name
    return "VARCHAR"


def quote(name: str) -> str:
    """A safely quoted SQL identifier (field names contain dots and '@')."""
    return '"' + name.replace('"', '""') + '"'
