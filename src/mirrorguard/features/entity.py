"""Per-entity window features for behaviour baselines (UEBA).

An *entity* is the value of one column (``host.name``, ``user.name``, ``source.ip``); a
*window* is a fixed time bucket (``"1h"``, ``"1d"``). :func:`entity_windows` turns an
EventFrame into one row per (entity, window) with the volume dimensions UEBA baselines;
:func:`entity_values` lists the categorical values (destinations, ports, processes) an entity
touched per window, for first-seen rarity; :func:`logon_hours` gives the hour of each successful
logon. All are Polars group-bys over the whole frame.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> t = [datetime(2024, 1, 1, 9, 5, tzinfo=UTC), datetime(2024, 1, 1, 9, 40, tzinfo=UTC)]
>>> f = pl.DataFrame({
...     "@timestamp": t,
...     "host.name": ["ws1", "ws1"], "event.category": ["network", "network"],
...     "destination.ip": ["192.0.2.1", "192.0.2.2"], "source.bytes": [100, 300]})
>>> w = entity_windows(f, "host.name", "1h")
>>> w.select("entity", "bytes_out", "connections", "distinct_destinations").row(0)
('ws1', 400.0, 2.0, 2.0)
"""

from __future__ import annotations

import polars as pl

from mirrorguard.errors import SchemaError

#: numeric dimensions computed per entity window, with what they measure
DIMENSIONS: dict[str, str] = {
    "bytes_out": "bytes sent (source.bytes of network events)",
    "bytes_in": "bytes received (destination.bytes of network events)",
    "connections": "network events",
    "distinct_destinations": "distinct destination.ip",
    "distinct_ports": "distinct destination.port",
    "logons": "successful authentication events",
    "failed_logons": "failed authentication events",
    "process_starts": "process events",
    "distinct_processes": "distinct process.executable",
}

#: categorical fields whose first appearance for an entity is a rarity finding
RARITY_FIELDS: dict[str, str] = {
    "destination": "destination.ip",
    "port": "destination.port",
    "process": "process.executable",
    "service": "event.dataset",
}

_OPTIONAL: dict[str, pl.DataType] = {
    "event.category": pl.String(),
    "event.outcome": pl.String(),
    "destination.ip": pl.String(),
    "destination.port": pl.Int32(),
    "source.bytes": pl.Int64(),
    "destination.bytes": pl.Int64(),
    "process.executable": pl.String(),
    "event.dataset": pl.String(),
    "event.id": pl.String(),
}


def _prepared(frame: pl.DataFrame, entity: str, every: str) -> pl.LazyFrame:
    for col in ("@timestamp", entity):
        if col not in frame.columns:
            raise SchemaError(f"entity features need column {col!r}")
    missing = [pl.lit(None, dtype=dt).alias(c) for c, dt in _OPTIONAL.items() if c not in frame]
    lf = frame.lazy().with_columns(missing) if missing else frame.lazy()
    return lf.filter(pl.col(entity).is_not_null()).with_columns(
        pl.col(entity).cast(pl.String).alias("entity"),
        pl.col("@timestamp").dt.truncate(every).alias("window_start"),
    )


def entity_windows(frame: pl.DataFrame, entity: str, every: str = "1h") -> pl.DataFrame:
    """One row per (entity, window) with the :data:`DIMENSIONS` as Float64 columns."""
    net = pl.col("event.category") == "network"
    auth = pl.col("event.category") == "authentication"
    proc = pl.col("event.category") == "process"
    out = (
        _prepared(frame, entity, every)
        .group_by("entity", "window_start")
        .agg(
            pl.col("source.bytes").filter(net).sum().alias("bytes_out"),
            pl.col("destination.bytes").filter(net).sum().alias("bytes_in"),
            net.sum().alias("connections"),
            pl.col("destination.ip").filter(net).drop_nulls().n_unique()
            .alias("distinct_destinations"),
            pl.col("destination.port").filter(net).drop_nulls().n_unique()
            .alias("distinct_ports"),
            (auth & (pl.col("event.outcome") == "success")).sum().alias("logons"),
            (auth & (pl.col("event.outcome") == "failure")).sum().alias("failed_logons"),
            proc.sum().alias("process_starts"),
            pl.col("process.executable").filter(proc).drop_nulls().n_unique()
            .alias("distinct_processes"),
            pl.col("event.id").drop_nulls().head(10).alias("evidence"),
        )
        .with_columns(pl.col(d).cast(pl.Float64).fill_null(0.0) for d in DIMENSIONS)
        .sort("entity", "window_start")
    )
    return out.collect()


def entity_values(
    frame: pl.DataFrame, entity: str, every: str = "1h",
    fields: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Distinct (entity, window, dimension, value) with the first event id, for rarity."""
    fields = RARITY_FIELDS if fields is None else fields
    lf = _prepared(frame, entity, every)
    parts = [
        lf.select(
            "entity", "window_start", pl.lit(dim).alias("dimension"),
            pl.col(col).cast(pl.String).alias("value"), pl.col("event.id"),
        ).drop_nulls("value")
        for dim, col in fields.items()
    ]
    return (
        pl.concat(parts)
        .group_by("entity", "window_start", "dimension", "value")
        .agg(pl.col("event.id").first())
        .sort("entity", "window_start", "dimension", "value")
        .collect()
    )


def logon_hours(frame: pl.DataFrame, entity: str, every: str = "1h") -> pl.DataFrame:
    """Hour of day (UTC) of each successful logon per entity and window."""
    lf = _prepared(frame, entity, every).filter(
        (pl.col("event.category") == "authentication") & (pl.col("event.outcome") == "success")
    )
    return lf.select(
        "entity", "window_start", pl.col("@timestamp").dt.hour().cast(pl.Int64).alias("hour"),
        "event.id",
    ).collect()
