"""Entity window features: volumes, categorical values and logon hours per entity window."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from mirrorguard.errors import SchemaError
from mirrorguard.features.entity import entity_values, entity_windows, logon_hours


def _t(h: int, m: int = 0) -> datetime:
    return datetime(2024, 5, 6, h, m, tzinfo=UTC)


FRAME = pl.DataFrame({
    "@timestamp": [_t(9, 1), _t(9, 30), _t(9, 45), _t(10, 5), _t(10, 6), _t(3, 0)],
    "host.name": ["ws1", "ws1", "ws1", "ws1", "ws2", "ws2"],
    "user.name": ["ann", "ann", "ann", "ann", "bob", "bob"],
    "event.category": ["network", "network", "authentication", "process", "authentication",
                       "authentication"],
    "event.outcome": [None, None, "failure", None, "success", "success"],
    "destination.ip": ["192.0.2.1", "192.0.2.1", None, None, None, None],
    "destination.port": pl.Series([443, 22, None, None, None, None], dtype=pl.Int32),
    "source.bytes": [100, 50, None, None, None, None],
    "destination.bytes": [1000, None, None, None, None, None],
    "process.executable": [None, None, None, "/usr/bin/curl", None, None],
    "event.id": ["a", "b", "c", "d", "e", "f"],
})


def test_windows_aggregate_each_dimension() -> None:
    w = entity_windows(FRAME, "host.name", "1h")
    row = w.filter((pl.col("entity") == "ws1") & (pl.col("window_start") == _t(9))).row(
        0, named=True)
    assert (row["bytes_out"], row["bytes_in"], row["connections"]) == (150.0, 1000.0, 2.0)
    assert (row["distinct_destinations"], row["distinct_ports"], row["failed_logons"]) == (
        1.0, 2.0, 1.0)
    assert row["evidence"] == ["a", "b", "c"]
    ten = w.filter((pl.col("entity") == "ws1") & (pl.col("window_start") == _t(10))).row(
        0, named=True)
    assert (ten["process_starts"], ten["distinct_processes"], ten["connections"]) == (1.0, 1.0,
                                                                                      0.0)
    assert w.height == 4


def test_values_and_hours() -> None:
    v = entity_values(FRAME, "host.name", "1d")
    ws1 = v.filter(pl.col("entity") == "ws1")
    assert sorted(ws1.filter(pl.col("dimension") == "port")["value"].to_list()) == ["22", "443"]
    assert ws1.filter(pl.col("dimension") == "process")["value"].to_list() == ["/usr/bin/curl"]
    h = logon_hours(FRAME, "user.name")
    assert h.sort("hour")[["entity", "hour"]].rows() == [("bob", 3), ("bob", 10)]


def test_missing_entity_column_is_an_error() -> None:
    with pytest.raises(SchemaError):
        entity_windows(FRAME.drop("host.name"), "host.name")
