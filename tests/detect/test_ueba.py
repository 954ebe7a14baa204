"""UEBA baselines: volume outliers with percentiles, first-seen rarity, peers, logon hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from mirrorguard.detect.ueba import UebaDetector
from mirrorguard.detect.ueba_findings import FINDING_SCHEMA
from mirrorguard.errors import SchemaError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOSTS = ("ws1", "ws2", "ws3")


def _net(hours: range, host: str, rng: np.random.Generator, dst: str = "192.0.2.1",
         scale: float = 1.0) -> pl.DataFrame:
    n = len(hours)
    return pl.DataFrame({
        "@timestamp": [T0 + timedelta(hours=h, minutes=5) for h in hours],
        "host.name": [host] * n, "event.category": ["network"] * n,
        "destination.ip": [dst] * n,
        "destination.port": pl.Series([443] * n, dtype=pl.Int32),
        "source.bytes": (rng.lognormal(13, 0.3, n) * scale).astype(np.int64),
        "event.id": [f"{host}-{h}" for h in hours],
    })


def _logons(days: int, user: str) -> pl.DataFrame:
    ts = [T0 + timedelta(days=d, hours=h) for d in range(days) for h in range(9, 18)]
    return pl.DataFrame({"@timestamp": ts, "user.name": [user] * len(ts),
                         "event.category": ["authentication"] * len(ts),
                         "event.outcome": ["success"] * len(ts),
                         "event.id": [f"l{i}" for i in range(len(ts))]})


@pytest.fixture
def history() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.concat([_net(range(72), h, rng) for h in HOSTS])


@pytest.fixture
def detector(history: pl.DataFrame) -> UebaDetector:
    return UebaDetector(peers=dict.fromkeys(HOSTS, "finance")).fit(history)


def test_normal_window_gives_no_finding(detector: UebaDetector) -> None:
    rng = np.random.default_rng(1)
    assert detector.findings(_net(range(80, 81), "ws1", rng)).is_empty()


def test_volume_finding_states_baseline_percentile_and_window(detector: UebaDetector) -> None:
    rng = np.random.default_rng(2)
    spike = _net(range(80, 81), "ws2", rng, scale=100.0)
    f = detector.findings(spike)
    assert f.schema == pl.Schema(FINDING_SCHEMA)
    row = f.filter(pl.col("dimension") == "bytes_out").row(0, named=True)
    assert row["entity"] == "ws2" and row["peer_group"] == "finance"
    assert row["percentile"] >= 99.0 and row["peer_percentile"] >= 99.0
    assert row["observed"] > 30 * row["baseline_median"]
    assert row["baseline_p99"] < row["observed"]
    assert row["window_start"] == T0 + timedelta(hours=80) and row["window"] == "1h"
    assert "this host's median" in row["explanation"] and "2024-01-04 08:00" in row["explanation"]
    assert row["evidence"] == ["ws2-80"]


def test_first_seen_destination_scored_by_peer_knowledge(history: pl.DataFrame) -> None:
    rng = np.random.default_rng(3)
    extra = _net(range(72), "ws3", rng, dst="198.51.100.50")
    det = UebaDetector(peers=dict.fromkeys(HOSTS, "finance")).fit(pl.concat([history, extra]))
    known_to_peer = _net(range(90, 91), "ws1", rng, dst="198.51.100.50")
    unknown = _net(range(90, 91), "ws1", rng, dst="203.0.113.66")
    a = det.findings(known_to_peer).filter(pl.col("dimension") == "new_destination")
    b = det.findings(unknown).filter(pl.col("dimension") == "new_destination")
    assert a["score"][0] < b["score"][0]
    assert "never seen by its peer group" in b["explanation"][0]
    assert b["baseline_median"][0] == 1.0  # one destination known before


def test_entities_without_history_are_not_judged(detector: UebaDetector) -> None:
    rng = np.random.default_rng(4)
    assert detector.findings(_net(range(80, 81), "new-host", rng, scale=100.0)).is_empty()


def test_logon_at_unusual_hour() -> None:
    det = UebaDetector(entity="user.name", min_history=1).fit(_logons(10, "ann"))
    night = pl.DataFrame({"@timestamp": [T0 + timedelta(days=11, hours=3)], "user.name": ["ann"],
                          "event.category": ["authentication"], "event.outcome": ["success"],
                          "event.id": ["night"]})
    f = det.findings(night).filter(pl.col("dimension") == "logon_hour")
    assert f["observed"][0] == 3.0 and f["percentile"][0] == 100.0
    assert "logon at 03:00 UTC for user ann" in f["explanation"][0]
    day = night.with_columns(pl.lit(T0 + timedelta(days=11, hours=10)).alias("@timestamp")
                             .dt.cast_time_unit("us"))
    assert det.findings(day).filter(pl.col("dimension") == "logon_hour").is_empty()


def test_learning_is_continuous_and_updates_go_through_one_method(
    detector: UebaDetector,
) -> None:
    rng = np.random.default_rng(5)
    calls: list[int] = []
    original = detector.update_baselines

    def wrapped(*args: pl.DataFrame) -> None:
        calls.append(args[0].height)
        original(*args)

    detector.update_baselines = wrapped  # type: ignore[method-assign]
    before = detector.windows_.copy()
    detector.learn(_net(range(100, 124), "ws1", rng, dst="203.0.113.9"))
    assert calls == [24]
    assert detector.windows_[0] == before[0] + 24
    assert detector.findings(_net(range(130, 131), "ws1", rng, dst="203.0.113.9")).is_empty()


def test_score_alerts_and_state_round_trip(detector: UebaDetector) -> None:
    rng = np.random.default_rng(6)
    batch = pl.concat([_net(range(80, 81), "ws1", rng), _net(range(80, 81), "ws2", rng, scale=80)])
    scores = detector.score(batch)
    assert scores[0] == 0.0 and scores[1] > 0.7
    alerts = detector.alerts(batch, threshold=0.7)
    assert [a.entities for a in alerts] == [{"host": ("ws2",)}]
    meta, arrays = detector.get_state()
    assert all(a.dtype != object for a in arrays.values())
    again = UebaDetector.from_state(detector.get_params(), meta, arrays)
    assert again.findings(batch).equals(detector.findings(batch))


def test_subnet_peers_and_bad_parameters() -> None:
    rng = np.random.default_rng(7)
    hist = pl.concat([_net(range(48), ip, rng) for ip in ("10.1.0.5", "10.1.0.6", "10.2.0.7")])
    det = UebaDetector(peer_prefix=24, min_history=24).fit(hist)
    f = det.findings(_net(range(60, 61), "10.1.0.5", rng, scale=100.0))
    assert f["peer_group"][0] == "10.1.0.0/24"
    with pytest.raises(SchemaError):
        UebaDetector(dimensions=("nope",)).fit(hist)
    with pytest.raises(SchemaError):
        UebaDetector().findings(hist)
