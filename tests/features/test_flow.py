from __future__ import annotations

import datetime as dt

import polars as pl

from mirrorguard.features.flow import flow_features

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _frame() -> pl.DataFrame:
    secs = [0, 30, 60, 400, 10, 20]
    return pl.DataFrame({
        "@timestamp": [T0 + dt.timedelta(seconds=s) for s in secs],
        "source.ip": ["a", "a", "a", "a", "b", "b"],
        "destination.ip": ["x", "y", "x", "z", "x", "x"],
        "destination.port": [443, 22, 443, 60000, 8080, 8080],
        "network.transport": ["tcp"] * 6,
        "source.bytes": [100, 200, 100, 5000, 10, 10],
        "destination.bytes": [1000, 0, 1000, 10, 10, 10],
        "source.packets": [2, 4, 2, 10, 1, 1],
        "event.duration": [1_000_000_000] * 6,
    })


def test_row_order_and_window_aggregates() -> None:
    out = flow_features(_frame(), window="5m")
    assert out.height == 6
    assert out["flow.src_flows_window"].to_list() == [1, 2, 3, 1, 1, 2]
    assert out["flow.src_distinct_dst_window"].to_list() == [1, 2, 2, 1, 1, 1]
    assert out["flow.src_bytes_window"].to_list() == [100, 300, 400, 5000, 10, 20]


def test_first_seen_rarity_and_buckets() -> None:
    out = flow_features(_frame())
    assert out["flow.first_seen_pair"].to_list() == [1, 1, 0, 1, 1, 0]
    assert out["flow.port_bucket"].to_list() == ["443", "22", "443", "dynamic", "registered",
                                                 "registered"]
    r = out["flow.dst_port_rarity"].to_list()
    assert r[1] > r[0]  # port 22 seen once, 443 twice
    assert out["flow.duration_s"].to_list() == [1.0] * 6
    assert out["flow.src_bytes_per_packet"][3] == 500.0


def test_missing_fields_tolerated() -> None:
    out = flow_features(pl.DataFrame({"source.bytes": [1, 2]}))
    assert out.height == 2 and "flow.src_flows_window" not in out.columns
    assert out["flow.transport"].null_count() == 2
