"""Flow features from ECS network events, computed with Polars over whole frames.

:func:`flow_features` turns an EventFrame of connections (``source.ip``, ``destination.ip``,
``destination.port``, ``network.transport``, ``source.bytes``, ``destination.bytes``,
``source.packets``, ``destination.packets``, ``event.duration``, ``@timestamp``; any may be
missing) into a feature frame with one row per event, in the input order:

* per-flow shape: duration in seconds, bytes per packet each way, the out/in byte balance
  ``log((src+1)/(dst+1))`` and the byte rate;
* categoricals: transport, a destination-port bucket (the port for well-known ports, else
  ``registered``/``dynamic``) and the Zeek connection state when present;
* windowed per-source aggregates over the trailing ``window``: flow count, bytes sent, distinct
  destinations and distinct destination ports (Polars ``rolling`` grouped by ``source.ip``);
* first-seen and rarity: whether the ``(source, destination, port)`` triple appears for the first
  time in the frame, and ``-log`` of the destination port's share of all flows.

The output feeds :class:`~mirrorguard.features.transforms.TabularTransformer` (log/scale/one-hot).

>>> import datetime as dt, polars as pl
>>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
>>> f = pl.DataFrame({
...     "@timestamp": [t0, t0 + dt.timedelta(seconds=1), t0 + dt.timedelta(seconds=2)],
...     "source.ip": ["10.0.0.1"] * 3, "destination.ip": ["1.1.1.1", "1.1.1.1", "8.8.8.8"],
...     "destination.port": [53, 53, 443], "source.bytes": [60, 60, 900],
... })
>>> flow_features(f).select("flow.src_flows_window", "flow.first_seen_pair").rows()
[(1, 1), (2, 0), (3, 1)]
"""

from __future__ import annotations

import polars as pl

_NUMERIC = ("source.bytes", "destination.bytes", "source.packets", "destination.packets")
_ROW = "__row"


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    return pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype)


def _shape_exprs(frame: pl.DataFrame) -> list[pl.Expr]:
    f64 = pl.Float64()
    sb, db = _col(frame, "source.bytes", f64), _col(frame, "destination.bytes", f64)
    sp, dp = _col(frame, "source.packets", f64), _col(frame, "destination.packets", f64)
    dur = _col(frame, "event.duration", f64) / 1e9
    return [
        *[_col(frame, c, f64).alias(f"flow.{c.replace('.', '_')}") for c in _NUMERIC],
        dur.alias("flow.duration_s"),
        (sb / sp.clip(lower_bound=1.0)).alias("flow.src_bytes_per_packet"),
        (db / dp.clip(lower_bound=1.0)).alias("flow.dst_bytes_per_packet"),
        ((sb.fill_null(0) + 1.0) / (db.fill_null(0) + 1.0)).log().alias("flow.byte_balance"),
        ((sb.fill_null(0) + db.fill_null(0)) / dur.clip(lower_bound=1e-3)).alias("flow.byte_rate"),
    ]


def _categorical_exprs(frame: pl.DataFrame) -> list[pl.Expr]:
    port = _col(frame, "destination.port", pl.Int64())
    bucket = (
        pl.when(port.is_null()).then(pl.lit(None, pl.String))
        .when(port < 1024).then(port.cast(pl.String))
        .when(port < 49152).then(pl.lit("registered"))
        .otherwise(pl.lit("dynamic"))
    )
    exprs = [
        _col(frame, "network.transport", pl.String()).alias("flow.transport"),
        bucket.alias("flow.port_bucket"),
    ]
    if "zeek.conn.conn_state" in frame.columns:
        exprs.append(pl.col("zeek.conn.conn_state").cast(pl.String).alias("flow.conn_state"))
    return exprs


def _window_features(frame: pl.DataFrame, window: str) -> pl.DataFrame:
    """Trailing-window aggregates per ``source.ip`` (needs ``@timestamp`` and ``source.ip``)."""
    base = frame.select(
        pl.col(_ROW), pl.col("@timestamp"), pl.col("source.ip").cast(pl.String),
        _col(frame, "destination.ip", pl.String()).alias("_dst"),
        _col(frame, "destination.port", pl.Int64()).alias("_port"),
        _col(frame, "source.bytes", pl.Float64()).fill_null(0).alias("_sb"),
    ).sort("source.ip", "@timestamp", _ROW)
    agg = base.rolling(index_column="@timestamp", period=window, group_by="source.ip").agg(
        pl.col(_ROW).last(),
        pl.len().cast(pl.Int64).alias("flow.src_flows_window"),
        pl.col("_sb").sum().alias("flow.src_bytes_window"),
        pl.col("_dst").n_unique().cast(pl.Int64).alias("flow.src_distinct_dst_window"),
        pl.col("_port").n_unique().cast(pl.Int64).alias("flow.src_distinct_ports_window"),
    )
    return agg.drop("source.ip", "@timestamp")


def flow_features(frame: pl.DataFrame, window: str = "5m") -> pl.DataFrame:
    """Feature frame for ``frame`` (same row order); see the module docstring."""
    f = frame.with_row_index(_ROW)
    rarity = []
    if "destination.port" in f.columns:
        share = pl.len().over("destination.port") / pl.len()
        rarity = [(-share.log()).alias("flow.dst_port_rarity")]
    out = f.select(pl.col(_ROW), *_shape_exprs(f), *_categorical_exprs(f), *rarity)
    key = [c for c in ("source.ip", "destination.ip", "destination.port") if c in f.columns]
    if key:
        order = [c for c in ("@timestamp", _ROW) if c in f.columns]
        first = f.sort(order).select(
            pl.col(_ROW),
            (pl.int_range(pl.len()).over(key) == 0).cast(pl.Int8).alias("flow.first_seen_pair"),
        )
        out = out.join(first, on=_ROW, how="left")
    if {"@timestamp", "source.ip"} <= set(f.columns):
        out = out.join(_window_features(f, window), on=_ROW, how="left")
    return out.sort(_ROW).drop(_ROW)
