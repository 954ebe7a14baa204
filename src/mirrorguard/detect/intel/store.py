"""Keep intel in the store: tables ``intel_indicators`` and ``intel_sightings``.

Loading a feed again replaces its indicators (same ``indicator.id``) and sightings (same
``sighting.id``, or same indicator and time when a sighting has no id) in one transaction.

>>> import tempfile, pathlib
>>> from mirrorguard.store.duckdb_store import DuckDBStore
>>> from mirrorguard.detect.intel.lists import load_text
>>> with tempfile.TemporaryDirectory() as d, DuckDBStore(pathlib.Path(d) / "s.duckdb") as st:
...     _ = save_intel(st, load_text("evil.example\\n203.0.113.9", feed="f"))
...     _ = save_intel(st, load_text("evil.example", feed="f"))  # same ids: replaced
...     load_intel(st).indicators.height
2
"""

from __future__ import annotations

import polars as pl

from mirrorguard.detect.intel.model import (
    INDICATOR_SCHEMA,
    SIGHTING_SCHEMA,
    IntelSet,
    LoadReport,
)
from mirrorguard.schema.fields import SCHEMA_VERSION
from mirrorguard.store.duckdb_store import DuckDBStore
from mirrorguard.store.types import duckdb_type, quote

INDICATORS = "intel_indicators"
SIGHTINGS = "intel_sightings"


def _ddl(table: str, schema: dict[str, pl.DataType]) -> str:
    cols = ", ".join(f"{quote(n)} {duckdb_type(t)}" for n, t in schema.items())
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols}, schema_version INTEGER)"


def ensure_tables(store: DuckDBStore) -> None:
    """Create the intel tables when missing."""
    store.con.execute(_ddl(INDICATORS, INDICATOR_SCHEMA))
    store.con.execute(_ddl(SIGHTINGS, SIGHTING_SCHEMA))


def _insert(store: DuckDBStore, table: str, frame: pl.DataFrame, key: str) -> None:
    frame = frame.with_columns(pl.lit(SCHEMA_VERSION, pl.Int32).alias("schema_version"))
    store.con.register("__mg_intel", frame.to_arrow())
    try:
        store.con.execute(  # table and key come from module constants, not from input
            f"DELETE FROM {table} WHERE {quote(key)} IN "  # noqa: S608
            f"(SELECT DISTINCT {quote(key)} FROM __mg_intel)")
        store.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM __mg_intel")  # noqa: S608
    finally:
        store.con.unregister("__mg_intel")


def save_intel(store: DuckDBStore, intel: IntelSet) -> dict[str, int]:
    """Upsert indicators and sightings; returns rows written per table."""
    ensure_tables(store)
    sightings = intel.sightings.with_columns(pl.coalesce(
        "sighting.id",
        pl.concat_str(pl.col("indicator.id"), pl.col("sighting.last_seen").cast(pl.String),
                      separator="@", ignore_nulls=True)).alias("sighting.id"))
    with store.transaction():
        if intel.indicators.height:
            _insert(store, INDICATORS, intel.indicators, "indicator.id")
        if sightings.height:
            _insert(store, SIGHTINGS, sightings, "sighting.id")
    return {INDICATORS: intel.indicators.height, SIGHTINGS: sightings.height}


def load_intel(store: DuckDBStore) -> IntelSet:
    """Everything stored, as one :class:`IntelSet` (empty when nothing was loaded)."""
    ensure_tables(store)
    return IntelSet(_read(store, INDICATORS, INDICATOR_SCHEMA),
                    _read(store, SIGHTINGS, SIGHTING_SCHEMA), LoadReport())


def _read(store: DuckDBStore, table: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    cols = ", ".join(quote(n) for n in schema)
    frame = store.query(f"SELECT {cols} FROM {table}")  # noqa: S608 (constant names)
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    return frame.cast(pl.Schema(schema))
