"""Beacon detector: periodic pairs score high, bursty pairs low, missed beats and jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from mirrorguard.detect.beacon import BeaconDetector
from mirrorguard.detect.beacon_stats import pair_stats
from mirrorguard.errors import SchemaError

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _frame(times: np.ndarray, src: str, dst: str, *, sni: str | None = None,
           size: np.ndarray | None = None) -> pl.DataFrame:
    n = len(times)
    return pl.DataFrame({
        "@timestamp": [T0 + timedelta(seconds=float(t)) for t in times],
        "source.ip": [src] * n,
        "destination.ip": [dst] * n,
        "destination.port": pl.Series([443] * n, dtype=pl.Int32),
        "source.bytes": pl.Series(size if size is not None else np.full(n, 400), dtype=pl.Int64),
        "tls.server.name": pl.Series([sni] * n, dtype=pl.String),
        "event.id": [f"{src}-{dst}-{i}" for i in range(n)],
    }).with_columns(pl.col("@timestamp").dt.cast_time_unit("us"))


def _beacon(rng: np.random.Generator, period: float, jitter: float, missed: float,
            hours: float = 24) -> np.ndarray:
    n = int(hours * 3600 / period)
    t = np.cumsum(period * (1 - jitter * rng.random(n)))
    return t[rng.random(n) >= missed]


def _bursty(rng: np.random.Generator) -> np.ndarray:
    starts = rng.uniform(0, 86_400, 12)
    return np.sort(np.concatenate([s + np.cumsum(rng.exponential(4.0, 40)) for s in starts]))


@pytest.fixture
def mix() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    return pl.concat([
        _frame(_beacon(rng, 60, 0.0, 0.0), "10.0.0.1", "203.0.113.1"),
        _frame(_beacon(rng, 300, 0.5, 0.2), "10.0.0.2", "203.0.113.2", sni="c2.example"),
        _frame(_bursty(rng), "10.0.0.3", "198.51.100.3", sni="www.example.org",
               size=rng.lognormal(8, 2, 480).astype(np.int64)),
    ]).sort("@timestamp")


def test_exact_period_is_recovered() -> None:
    f = _frame(np.arange(0, 3600 * 6, 120.0), "10.0.0.1", "192.0.2.1")
    s = pair_stats(f, "ip", min_beats=8)
    assert s["period_s"][0] == pytest.approx(120.0)
    assert s["missed_frac"][0] == 0.0


def test_missed_beats_keep_period_and_periodicity() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(0, 86_400, 600.0)
    t = t[rng.random(len(t)) > 0.2]
    found = BeaconDetector(levels=("ip",)).findings(_frame(t, "10.0.0.9", "192.0.2.9"))
    row = found.row(0, named=True)
    assert row["period_s"] == pytest.approx(600.0)
    assert row["missed_frac"] > 0.05
    assert row["periodicity"] > 0.9 and row["score"] > 0.9


def test_beacons_outscore_bursty_traffic(mix: pl.DataFrame) -> None:
    found = BeaconDetector(levels=("ip",)).findings(mix)
    by_src = dict(zip(found["source"], found["score"], strict=True))
    assert by_src["10.0.0.1"] > 0.9
    assert by_src["10.0.0.2"] > 0.7
    assert by_src["10.0.0.3"] < 0.5
    assert min(by_src["10.0.0.1"], by_src["10.0.0.2"]) > by_src["10.0.0.3"] + 0.2


def test_fqdn_level_sees_rotating_addresses() -> None:
    rng = np.random.default_rng(3)
    t = _beacon(rng, 120, 0.1, 0.0)
    dsts = [f"100.80.0.{k}" for k in rng.integers(0, 6, len(t))]
    f = _frame(t, "10.0.0.5", "x", sni="Cdn.Example.COM.").with_columns(
        pl.Series("destination.ip", dsts))
    found = BeaconDetector(levels=("ip", "fqdn")).findings(f)
    fq = found.filter(pl.col("level") == "fqdn")
    assert fq["destination"].to_list() == ["cdn.example.com"]
    assert fq["score"][0] > found.filter(pl.col("level") == "ip")["score"].max()


def test_score_per_event_and_explanations(mix: pl.DataFrame) -> None:
    det = BeaconDetector().fit(mix)
    scores = det.score(mix)
    assert scores.shape == (mix.height,)
    beacon_rows = (mix["source.ip"] == "10.0.0.1").to_numpy()
    assert scores[beacon_rows].min() > 0.9
    assert scores[~beacon_rows].max() < scores[beacon_rows].min()
    row = int(np.flatnonzero(beacon_rows)[0])
    exp = det.explain(mix, [row])[0]
    assert "period ≈ 1.0 min" in exp.text and "10.0.0.1 -> " in exp.text
    assert exp.extra["sources_for_destination"] == 1


def test_alerts_carry_evidence_and_entities(mix: pl.DataFrame) -> None:
    alerts = BeaconDetector(levels=("fqdn",)).fit(mix).alerts(mix, threshold=0.7)
    assert [a.entities["domain"] for a in alerts] == [("c2.example",)]
    assert alerts[0].evidence and all(e.startswith("10.0.0.2-") for e in alerts[0].evidence)


def test_state_round_trip_and_no_mutation(mix: pl.DataFrame) -> None:
    before = mix.clone()
    det = BeaconDetector().fit(mix)
    meta, arrays = det.get_state()
    assert all(a.dtype != object for a in arrays.values())
    again = BeaconDetector.from_state(det.get_params(), meta, arrays)
    assert np.array_equal(again.score(mix), det.score(mix))
    assert mix.equals(before)


def test_minimal_columns_and_errors() -> None:
    f = pl.DataFrame({"@timestamp": [T0 + timedelta(minutes=i) for i in range(20)],
                      "source.ip": ["10.0.0.1"] * 20, "destination.ip": ["192.0.2.1"] * 20})
    found = BeaconDetector(levels=("ip", "fqdn")).findings(f)
    assert found["level"].to_list() == ["ip"]
    assert found["size_score"][0] is None
    with pytest.raises(SchemaError):
        BeaconDetector(levels=("nope",)).findings(f)
    with pytest.raises(SchemaError):
        BeaconDetector().findings(f.drop("source.ip"))


def test_random_poisson_traffic_scores_low() -> None:
    """Exponential-gap (Poisson) traffic, 10-60 events over a day per pair: missed-beat
    correction alone would make it look periodic (it used to score 0.6-0.7)."""
    rng = np.random.default_rng(11)
    frames = []
    for i in range(150):
        n = int(rng.integers(10, 61))
        frames.append(_frame(np.sort(rng.uniform(0, 86_400, n)), f"10.1.0.{i}", "198.51.100.7",
                             size=rng.lognormal(7, 1.3, n).astype(np.int64)))
    found = BeaconDetector(levels=("ip",)).findings(pl.concat(frames))
    assert found.height == 150
    assert found["score"].median() < 0.3
    assert (found["score"] < 0.5).mean() >= 0.97
    assert found["poisson_p"].median() > 0.1  # the Poisson null is not rejected
