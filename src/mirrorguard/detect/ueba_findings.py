"""UEBA findings: volume outliers, first-seen values and unusual logon hours.

Each builder takes the learned baseline arrays and the current window features and returns a
frame with :data:`FINDING_SCHEMA`: entity, peer group, window, dimension, observed value,
baseline (median and 99th percentile, or the known set / usual hours), percentile against the
entity and against its peers, a score in [0, 1] and a one-line explanation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mirrorguard.detect.ueba_hist import percentile_of, value_at

FINDING_SCHEMA: dict[str, pl.DataType] = {
    "entity": pl.String(),
    "peer_group": pl.String(),
    "window_start": pl.Datetime("us", "UTC"),
    "window": pl.String(),
    "dimension": pl.String(),
    "observed": pl.Float64(),
    "baseline_median": pl.Float64(),
    "baseline_p99": pl.Float64(),
    "percentile": pl.Float64(),
    "peer_percentile": pl.Float64(),
    "history_windows": pl.Float64(),
    "score": pl.Float64(),
    "explanation": pl.String(),
    "evidence": pl.List(pl.String()),
}


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDING_SCHEMA)


def human(value: float, dimension: str) -> str:
    """``48.0 MB`` for byte dimensions, ``1,234`` otherwise."""
    if dimension.startswith("bytes"):
        for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if value >= size:
                return f"{value / size:.1f} {unit}"
        return f"{value:.0f} B"
    return f"{value:,.0f}"


def _window_text(start: Any, every: str) -> str:
    return f"window {start:%Y-%m-%d %H:%M} UTC ({every})"


@dataclass
class Baselines:
    """The arrays a finding builder reads (views into the detector's learned state)."""

    hist: np.ndarray  # (entities, dims, bins)
    peer_hist: np.ndarray  # (groups, dims, bins)
    windows: np.ndarray  # (entities,)
    peer_index: np.ndarray  # (entities,) group id
    groups: list[str]
    kind: str  # "host", "user", ...
    every: str


def volume_findings(
    b: Baselines, W: pl.DataFrame, e_idx: np.ndarray, dims: list[str], *,
    min_history: int, alert_percentile: float, min_ratio: float,
) -> pl.DataFrame:
    """Windows whose value of a dimension is above the entity's ``alert_percentile``."""
    known = e_idx >= 0
    W, e = W.filter(pl.Series(known)), e_idx[known]
    out: list[dict[str, Any]] = []
    for d, dim in enumerate(dims):  # loop over a handful of dimensions, vectorised inside
        obs = W[dim].to_numpy().astype(np.float64)
        h = b.hist[e, d, :]
        pct = percentile_of(h, obs)
        med, p99 = value_at(h, 0.5), value_at(h, 0.99)
        g = b.peer_index[e]
        peer_pct = percentile_of(b.peer_hist[g, d, :], obs)
        ratio = obs / np.maximum(med, 1.0)
        hit = (b.windows[e] >= min_history) & (pct >= alert_percentile) & (ratio >= min_ratio)
        for i in np.flatnonzero(hit):
            out.append(_volume_row(b, W.row(int(i), named=True), dim, float(obs[i]),
                                   float(med[i]), float(p99[i]), float(pct[i]),
                                   float(peer_pct[i]), float(b.windows[e[i]]), int(g[i])))
    return pl.DataFrame(out, schema=FINDING_SCHEMA) if out else empty_findings()


def _volume_row(b: Baselines, w: dict[str, Any], dim: str, obs: float, med: float,
                p99: float, pct: float, peer_pct: float, hist_n: float, g: int) -> dict[str, Any]:
    ratio = obs / max(med, 1.0)
    score = 0.5 * pct / 100 + 0.25 * peer_pct / 100 + 0.25 * min(1.0, np.log10(ratio) / 2)
    text = (
        f"{dim} {human(obs, dim)} = {ratio:.0f}× this {b.kind}'s median ({human(med, dim)}), "
        f"above its 99th percentile ({human(p99, dim)}): percentile {pct:.1f} of "
        f"{hist_n:.0f} windows, {peer_pct:.1f} among peers {b.groups[g]!r}; "
        f"{_window_text(w['window_start'], b.every)}"
    )
    return {"entity": w["entity"], "peer_group": b.groups[g], "window_start": w["window_start"],
            "window": b.every, "dimension": dim, "observed": obs, "baseline_median": med,
            "baseline_p99": p99, "percentile": pct, "peer_percentile": peer_pct,
            "history_windows": hist_n, "score": float(score), "explanation": text,
            "evidence": list(w["evidence"] or [])}


def rarity_findings(
    b: Baselines, values: pl.DataFrame, seen: pl.DataFrame, entity_groups: pl.DataFrame,
    *, min_history: int,
) -> pl.DataFrame:
    """First-seen destinations/ports/processes/services for entities with enough history.

    ``seen`` holds (entity, dimension, value) learned so far; ``entity_groups`` maps entity to
    peer group and history length. Peers' knowledge decides the score: new to the entity but
    known to its peers scores 0.6, new to the whole peer group 0.85.
    """
    if values.is_empty():
        return empty_findings()
    v = values.join(entity_groups, on="entity", how="inner").filter(
        pl.col("history_windows") >= min_history)
    new = v.join(seen, on=["entity", "dimension", "value"], how="anti")
    peer_seen = seen.join(entity_groups.select("entity", "peer_group"), on="entity").select(
        "peer_group", "dimension", "value").unique().with_columns(pl.lit(True).alias("by_peer"))
    new = new.join(peer_seen, on=["peer_group", "dimension", "value"], how="left")
    known = seen.group_by("entity", "dimension").len("known")
    agg = (new.group_by("entity", "peer_group", "window_start", "dimension", "history_windows")
           .agg(pl.len().alias("n_new"), pl.col("value").sort().head(5).alias("values"),
                pl.col("by_peer").fill_null(False).all().alias("all_peer_known"),
                pl.col("event.id").drop_nulls().head(10).alias("evidence"))
           .join(known, on=["entity", "dimension"], how="left")
           .sort("entity", "window_start", "dimension"))
    rows = [_rarity_row(b, r) for r in agg.iter_rows(named=True)]  # one row per finding
    return pl.DataFrame(rows, schema=FINDING_SCHEMA) if rows else empty_findings()


def _rarity_row(b: Baselines, r: dict[str, Any]) -> dict[str, Any]:
    peers = "known to its peers" if r["all_peer_known"] else "never seen by its peer group"
    known = int(r["known"] or 0)
    text = (
        f"first-seen {r['dimension']} for {b.kind} {r['entity']}: {', '.join(r['values'])}"
        f"{' …' if r['n_new'] > 5 else ''} ({r['n_new']} new, {known} known; {peers} "
        f"{r['peer_group']!r}); {_window_text(r['window_start'], b.every)}"
    )
    return {"entity": r["entity"], "peer_group": r["peer_group"],
            "window_start": r["window_start"], "window": b.every,
            "dimension": f"new_{r['dimension']}", "observed": float(r["n_new"]),
            "baseline_median": float(known), "baseline_p99": None, "percentile": 100.0,
            "peer_percentile": 50.0 if r["all_peer_known"] else 100.0,
            "history_windows": float(r["history_windows"]),
            "score": 0.6 if r["all_peer_known"] else 0.85, "explanation": text,
            "evidence": list(r["evidence"])}


def hour_findings(
    b: Baselines, hours_hist: np.ndarray, H: pl.DataFrame, e_idx: np.ndarray, *,
    min_logons: int, max_share: float,
) -> pl.DataFrame:
    """Successful logons at an hour holding under ``max_share`` of the entity's past logons."""
    known = e_idx >= 0
    H, e = H.filter(pl.Series(known)), e_idx[known]
    if H.is_empty():
        return empty_findings()
    hh = hours_hist[e]
    total = hh.sum(axis=1)
    hour = H["hour"].to_numpy()
    cur = hh[np.arange(len(e)), hour]
    share = cur / np.maximum(total, 1)
    more_common = (hh > cur[:, None]).sum(axis=1)
    pct = 100.0 * np.where(hh > cur[:, None], hh, 0.0).sum(axis=1) / np.maximum(total, 1)
    hit = (total >= min_logons) & (share < max_share)
    rows = []
    for i in np.flatnonzero(hit):
        r = H.row(int(i), named=True)
        usual = int(np.argmax(hh[i]))
        text = (
            f"logon at {hour[i]:02d}:00 UTC for {b.kind} {r['entity']}: {share[i]:.1%} of "
            f"{total[i]:.0f} past logons at that hour (busiest hour {usual:02d}:00; "
            f"{more_common[i]} hours more common); {_window_text(r['window_start'], b.every)}"
        )
        rows.append({"entity": r["entity"], "peer_group": b.groups[int(b.peer_index[e[i]])],
                     "window_start": r["window_start"], "window": b.every,
                     "dimension": "logon_hour", "observed": float(hour[i]),
                     "baseline_median": float(usual), "baseline_p99": None,
                     "percentile": float(pct[i]), "peer_percentile": None,
                     "history_windows": float(b.windows[e[i]]),
                     "score": float(0.5 + 0.5 * (1 - share[i] / max_share)),
                     "explanation": text, "evidence": [r["event.id"]] if r["event.id"] else []})
    return pl.DataFrame(rows, schema=FINDING_SCHEMA) if rows else empty_findings()
