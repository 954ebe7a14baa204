"""The boiling-frog scenario: slow baseline poisoning of UEBA, with and without a drift budget.

Simulated hosts send flows whose sizes are real: ``sbytes`` of the normal (label 0) rows of the
UNSW-NB15 file, sampled with replacement; each host has its own Poisson flow rate per hour.
After ``history_days`` of vetted history (fit + signed anchor), ``windows`` daily baseline
updates follow (``learn`` per day, UEBA with exponential forgetting ``decay``). One attacker
host grows its hourly volume by ``growth`` (8 %) every window, toward the planned exfiltration
volume: ``exfil_ratio`` (3) × the 99th percentile of its vetted hourly volume, an hour any
vetted baseline flags. Then one exfiltration hour is scored: the host's ordinary traffic for
that hour plus one transfer of the exfiltration volume.

Reported: whether the exfiltration hour raises a ``bytes_out`` finding for the attacker with the
guard (:class:`GuardedUeba`) and without (plain :class:`UebaDetector`, same settings), the
window the budget first flagged the drift, and drift findings on honest hosts (false alarms).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mirrorguard.bench.datasets import load_unsw_nb15
from mirrorguard.detect.ueba import UebaDetector
from mirrorguard.features.entity import entity_windows
from mirrorguard.guard.data.drift import BudgetConfig
from mirrorguard.guard.data.ueba_guard import GuardedUeba
from mirrorguard.guard.keys import Signer, generate_keypair

T0 = datetime(2024, 3, 4, tzinfo=UTC)


def _day(sizes: np.ndarray, rates: np.ndarray, hosts: list[str], day: int,
         scale: dict[str, float], rng: np.random.Generator) -> pl.DataFrame:
    """One day of flow events (24 hourly windows per host), vectorised."""
    counts = rng.poisson(np.repeat(rates, 24))  # host-major, hour-minor
    host_idx = np.repeat(np.repeat(np.arange(len(hosts)), 24), counts)
    hour = np.repeat(np.tile(np.arange(24), len(hosts)), counts)
    n = int(counts.sum())
    factor = np.array([scale.get(h, 1.0) for h in hosts])[host_idx]
    secs = rng.integers(0, 3600, n)
    ts = [T0 + timedelta(days=day, hours=int(h), seconds=int(s)) for h, s in zip(hour, secs,
                                                                               strict=True)]
    return pl.DataFrame({
        "@timestamp": ts, "host.name": np.asarray(hosts)[host_idx],
        "event.category": ["network"] * n,
        "destination.ip": [f"203.0.113.{d}" for d in rng.integers(1, 20, n)],
        "source.bytes": np.round(rng.choice(sizes, n) * factor).astype(np.int64),
    }).with_columns(pl.col("@timestamp").dt.cast_time_unit("us"))


def _detected(det: UebaDetector, frame: pl.DataFrame, attacker: str) -> bool:
    f = det.findings(frame)
    return bool(f.filter((pl.col("entity") == attacker) & (pl.col("dimension") == "bytes_out"))
                .height)


def boiling_frog_scenario(unsw_folder: Path, *, seed: int = 0, windows: int = 30,
                          history_days: int = 14, n_hosts: int = 12, exfil_ratio: float = 3.0,
                          growth: float = 0.08, decay: float = 0.9) -> dict[str, Any]:
    """Run the scenario; see the module docstring."""
    rng = np.random.default_rng(seed)
    tab = load_unsw_nb15(unsw_folder)
    sizes = tab.X["sbytes"].to_numpy()[tab.y == 0].astype(np.float64)
    hosts = [f"ws-{i:02d}" for i in range(n_hosts)]
    attacker = hosts[n_hosts // 2 + 1]
    rates = rng.uniform(8, 30, n_hosts)
    dims, rarity = ("bytes_out", "connections"), ("destination",)
    guarded = GuardedUeba(dimensions=dims, rarity=rarity, decay=decay, budget=BudgetConfig())
    plain = UebaDetector(dimensions=dims, rarity=rarity, decay=decay)
    history = pl.concat([_day(sizes, rates, hosts, d, {}, rng) for d in range(history_days)])
    guarded.fit(history)
    plain.fit(history)
    priv, _ = generate_keypair()
    guarded.anchor(Signer(priv))
    growth = 1.0 + growth
    for w in range(1, windows + 1):
        day = _day(sizes, rates, hosts, history_days + w, {attacker: growth ** w}, rng)
        guarded.learn(day)
        plain.learn(day)
    final = _day(sizes, rates, hosts, history_days + windows + 1,
                 {attacker: growth ** (windows + 1)}, rng)
    hourly = entity_windows(history.filter(pl.col("host.name") == attacker), "host.name")
    volume = exfil_ratio * float(np.quantile(hourly["bytes_out"].to_numpy(), 0.99))
    base = _day(sizes, rates, hosts, history_days + windows + 1, {}, rng)
    hour = base.filter((pl.col("host.name") == attacker) & (pl.col("@timestamp").dt.hour() == 12))
    exfil = pl.concat([hour, hour.head(1).with_columns(
        pl.lit(int(volume)).cast(pl.Int64).alias("source.bytes"),
        pl.lit("198.51.100.77").alias("destination.ip"))])
    drift = guarded.drift_findings()
    mine = drift.filter(pl.col("entity") == attacker) if drift.height else drift
    honest = drift.filter(pl.col("entity") != attacker) if drift.height else drift
    return {
        "detected_guarded": _detected(guarded, exfil, attacker),
        "detected_unguarded": _detected(plain, exfil, attacker),
        "growth_per_window": round(growth - 1.0, 4),
        "exfil_ratio_to_anchored_p99": exfil_ratio,
        "ramp_at_last_window": round(growth ** windows, 2), "windows": windows, "hosts": n_hosts,
        "exfil_bytes": int(exfil["source.bytes"].sum()), "exfil_transfer_bytes": int(volume),
        "attacker": attacker,
        "drift_flagged_window": (int(mine["window"].to_numpy().min()) + 1
                                 if mine.height else None),
        "drift_findings_attacker": mine.height,
        "drift_findings_honest": honest.height,
        "honest_final_day_windows": (n_hosts - 1) * 24,
        "honest_final_day_bytes_out_findings": {
            name: int(det.findings(final.filter(pl.col("host.name") != attacker))
                      .filter(pl.col("dimension") == "bytes_out").height)
            for name, det in (("guarded", guarded), ("unguarded", plain))},
    }
