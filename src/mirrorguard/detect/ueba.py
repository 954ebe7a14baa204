"""Behaviour baselines (UEBA): per-entity, continuously updated, with peers and rarity.

For each entity (host, user or address, one column) and each window (``"1h"`` by default),
:mod:`mirrorguard.features.entity` computes volumes (bytes out/in, connections, distinct
destinations and ports, logons, failed logons, process starts, distinct processes). The detector
keeps, per entity and dimension, a fixed-bin log histogram of past window values (a mergeable
quantile sketch, :mod:`~mirrorguard.detect.ueba_hist`), the hours of day of its successful logons,
and the set of destinations, ports, processes and services it has used. Findings:

* **volume** — a window above the entity's ``alert_percentile`` and at least ``min_ratio`` times
  its median, also placed among its **peers** (the merged histograms of its peer group);
* **rarity** — first-seen values for the entity, scored higher when its peer group never saw
  them either;
* **logon hours** — a successful logon at an hour holding under ``hour_share`` of its logons.

Every finding states the dimension, the baseline (median and 99th percentile, or the known set),
the observed value, its percentile and the window. Peer groups come from a given mapping
(``peers``: entity → group, e.g. OU or role) or, for address entities, from the IPv4 prefix
(``peer_prefix``); otherwise all entities are one group. Robust statistics throughout
(medians and quantiles of histograms, no means), after the percentile baselining of
Chandola, Banerjee & Kumar, *Anomaly Detection: A Survey* (2009) and peer-group analysis of
Bolton & Hand (2001).

Poisoning defence: every change to the baselines goes through :meth:`UebaDetector.update_baselines`
(one method), which ``guard/data`` wraps with a drift budget; callers learn only from
unflagged windows (:meth:`OnlineDetector.score_then_learn`).

>>> import polars as pl
>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> hist = pl.DataFrame({"@timestamp": [t0 + timedelta(hours=h) for h in range(48)],
...     "host.name": ["ws1"] * 48, "event.category": ["network"] * 48,
...     "destination.ip": ["192.0.2.1"] * 48, "source.bytes": [1000 + 10 * h for h in range(48)]})
>>> det = UebaDetector(entity="host.name", min_history=24).fit(hist)
>>> new = pl.DataFrame({"@timestamp": [t0 + timedelta(hours=50)], "host.name": ["ws1"],
...     "event.category": ["network"], "destination.ip": ["198.51.100.9"],
...     "source.bytes": [50_000_000]})
>>> sorted(det.findings(new)["dimension"].to_list())
['bytes_out', 'new_destination']
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import JSONValue, OnlineDetector
from mirrorguard.detect.ueba_findings import (
    Baselines,
    empty_findings,
    hour_findings,
    rarity_findings,
    volume_findings,
)
from mirrorguard.detect.ueba_hist import bin_index
from mirrorguard.errors import SchemaError
from mirrorguard.features.entity import (
    DIMENSIONS,
    RARITY_FIELDS,
    entity_values,
    entity_windows,
    logon_hours,
)
from mirrorguard.schema.alerts import Alert, Contribution, Explanation, Severity

_KIND = {"host.name": "host", "user.name": "user", "source.ip": "ip", "host.ip": "ip"}


class UebaDetector(OnlineDetector):
    """Per-entity behaviour baselines; see the module docstring."""

    name: ClassVar[str] = "ueba"

    def __init__(
        self,
        entity: str = "host.name",
        window: str = "1h",
        dimensions: Sequence[str] = tuple(DIMENSIONS),
        rarity: Sequence[str] = tuple(RARITY_FIELDS),
        peers: Mapping[str, str] | None = None,
        peer_prefix: int | None = None,
        min_history: int = 24,
        alert_percentile: float = 99.0,
        min_ratio: float = 3.0,
        hour_share: float = 0.01,
        min_logons: int = 20,
        n_bins: int = 64,
        decay: float = 1.0,
    ) -> None:
        self.entity = entity
        self.window = window
        self.dimensions = dimensions
        self.rarity = rarity
        self.peers = peers
        self.peer_prefix = peer_prefix
        self.min_history = min_history
        self.alert_percentile = alert_percentile
        self.min_ratio = min_ratio
        self.hour_share = hour_share
        self.min_logons = min_logons
        self.n_bins = n_bins
        self.decay = decay

    # ----- learned state -------------------------------------------------------------------
    def _reset(self) -> None:
        for dim in self.dimensions:
            if dim not in DIMENSIONS:
                raise SchemaError(f"unknown UEBA dimension {dim!r}; known: {sorted(DIMENSIONS)}")
        for r in self.rarity:
            if r not in RARITY_FIELDS:
                raise SchemaError(f"unknown rarity field {r!r}; known: {sorted(RARITY_FIELDS)}")
        self.entities_ = np.array([], dtype=str)
        self.hist_ = np.zeros((0, len(self.dimensions), self.n_bins))
        self.windows_ = np.zeros(0)
        self.hours_ = np.zeros((0, 24))
        self.seen_ = pl.DataFrame(schema={"entity": pl.String, "dimension": pl.String,
                                          "value": pl.String})

    def _index(self, names: pl.Series) -> np.ndarray:
        """Row of each entity name in the state arrays (-1 when unknown)."""
        lookup = pl.DataFrame({"entity": self.entities_.tolist()}, schema={
            "entity": pl.String}).with_row_index("idx")
        joined = pl.DataFrame({"entity": names}).join(lookup, on="entity", how="left",
                                                      maintain_order="left")
        return joined["idx"].fill_null(-1).cast(pl.Int64).to_numpy()

    def _grow(self, names: pl.Series) -> None:
        new = sorted(set(names.unique().to_list()) - set(self.entities_.tolist()))
        if not new:
            return
        k = len(new)
        self.entities_ = np.concatenate([self.entities_, np.array(new, dtype=str)])
        self.hist_ = np.concatenate([self.hist_, np.zeros((k, *self.hist_.shape[1:]))])
        self.windows_ = np.concatenate([self.windows_, np.zeros(k)])
        self.hours_ = np.concatenate([self.hours_, np.zeros((k, 24))])

    def _features(self, X: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        fields = {k: RARITY_FIELDS[k] for k in self.rarity}
        return (entity_windows(X, self.entity, self.window),
                entity_values(X, self.entity, self.window, fields),
                logon_hours(X, self.entity, self.window))

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        """Start fresh baselines from ``X``; returns ``self``."""
        self._reset()
        return self.learn(X)

    def learn(self, X: pl.DataFrame) -> Self:
        """Update the baselines with ``X`` (rows believed benign)."""
        if not hasattr(self, "hist_"):
            self._reset()
        self.update_baselines(*self._features(X))
        return self

    def update_baselines(
        self, windows: pl.DataFrame, values: pl.DataFrame, hours: pl.DataFrame
    ) -> None:
        """The one place baselines change (``guard/data`` wraps it with a drift budget).

        ``windows``/``values``/``hours`` are the outputs of :func:`entity_windows`,
        :func:`entity_values` and :func:`logon_hours`. With ``decay < 1`` older counts fade by
        that factor on every update.
        """
        self._grow(pl.concat([windows["entity"], values["entity"], hours["entity"]]))
        if self.decay < 1.0:
            self.hist_ *= self.decay
            self.hours_ *= self.decay
        e = self._index(windows["entity"])
        for d, dim in enumerate(self.dimensions):
            b = bin_index(windows[dim].to_numpy(), self.n_bins)
            np.add.at(self.hist_, (e, np.full(len(e), d), b), 1.0)
        np.add.at(self.windows_, e, 1.0)
        if hours.height:
            np.add.at(self.hours_, (self._index(hours["entity"]), hours["hour"].to_numpy()), 1.0)
        new_seen = values.select("entity", "dimension", "value").unique()
        self.seen_ = pl.concat([self.seen_, new_seen]).unique(maintain_order=True)

    # ----- peers ---------------------------------------------------------------------------
    def _group_of(self, name: str) -> str:
        if self.peers is not None:
            return self.peers.get(name, "(no group)")
        if self.peer_prefix is not None:
            try:
                net = ipaddress.ip_network(f"{name}/{self.peer_prefix}", strict=False)
            except ValueError:
                return "(not an address)"
            return str(net)
        return "(all)"

    def _baselines(self) -> Baselines:
        names = [self._group_of(n) for n in self.entities_.tolist()]  # once per entity
        groups = sorted(set(names)) or ["(all)"]
        gi = {g: i for i, g in enumerate(groups)}
        peer_index = np.array([gi[n] for n in names], dtype=np.int64)
        peer_hist = np.zeros((len(groups), *self.hist_.shape[1:]))
        np.add.at(peer_hist, peer_index, self.hist_)
        return Baselines(hist=self.hist_, peer_hist=peer_hist, windows=self.windows_,
                         peer_index=peer_index, groups=groups,
                         kind=_KIND.get(self.entity, "entity"), every=self.window)

    # ----- scoring -------------------------------------------------------------------------
    def findings(self, X: pl.DataFrame) -> pl.DataFrame:
        """Findings for ``X`` against the baselines (state is not changed), best first."""
        if not hasattr(self, "hist_"):
            raise SchemaError("UEBA detector is not fitted; call fit() or learn() first")
        windows, values, hours = self._features(X)
        b = self._baselines()
        groups = pl.DataFrame({
            "entity": self.entities_.tolist(),
            "peer_group": [b.groups[i] for i in b.peer_index.tolist()],
            "history_windows": self.windows_.tolist()},
            schema={"entity": pl.String, "peer_group": pl.String, "history_windows": pl.Float64})
        parts = [
            volume_findings(b, windows, self._index(windows["entity"]), list(self.dimensions),
                            min_history=self.min_history,
                            alert_percentile=self.alert_percentile, min_ratio=self.min_ratio),
            rarity_findings(b, values, self.seen_, groups, min_history=self.min_history),
            hour_findings(b, self.hours_, hours, self._index(hours["entity"]),
                          min_logons=self.min_logons, max_share=self.hour_share),
        ]
        out = pl.concat([p for p in parts if p.height] or [empty_findings()])
        return out.sort(["score", "entity"], descending=[True, False])

    def score(self, X: pl.DataFrame) -> np.ndarray:
        """Per event: the highest finding score of its (entity, window); 0 without findings."""
        found = self.findings(X).group_by("entity", "window_start").agg(pl.col("score").max())
        if self.entity not in X.columns:
            raise SchemaError(f"UEBA needs column {self.entity!r}")
        keyed = X.select(
            pl.col(self.entity).cast(pl.String).alias("entity"),
            pl.col("@timestamp").dt.truncate(self.window).alias("window_start"),
        )
        joined = keyed.join(found, on=["entity", "window_start"], how="left",
                            maintain_order="left")
        return joined["score"].fill_null(0.0).to_numpy().astype(np.float64)

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        """Explanations for the given events: the findings of their entity windows."""
        found = self.findings(X)
        sub = X[list(rows)].select(
            pl.col(self.entity).cast(pl.String).alias("entity"),
            pl.col("@timestamp").dt.truncate(self.window).alias("window_start"))
        out = []
        for r in sub.iter_rows(named=True):
            f = found.filter((pl.col("entity") == r["entity"])
                             & (pl.col("window_start") == r["window_start"]))
            out.append(_explanation(f) if f.height else
                       Explanation(text="no finding for this entity window"))
        return out

    def alerts(self, X: pl.DataFrame, threshold: float) -> list[Alert]:
        """One alert per (entity, window) whose best finding reaches ``threshold``."""
        found = self.findings(X).filter(pl.col("score") >= threshold)
        kind = _KIND.get(self.entity, "host")
        alerts = []
        for (entity, start), group in found.group_by("entity", "window_start",
                                                     maintain_order=True):
            f = group.sort("score", descending=True)
            top = float(f["score"][0])
            alerts.append(Alert(
                time=start, detector=self.name, score=top,
                severity=Severity.HIGH if top >= 0.85 else Severity.MEDIUM,
                explanation=_explanation(f), entities={kind: (str(entity),)},
                evidence=tuple(sorted({e for ev in f["evidence"].to_list() for e in ev})),
                title=f"unusual behaviour of {kind} {entity}: " + ", ".join(f["dimension"]),
            ))
        return alerts

    # ----- persistence ---------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        """Histograms, counts and seen-sets as plain arrays (strings as unicode, no objects)."""
        meta: dict[str, JSONValue] = {"version": 1, "entities": len(self.entities_)}
        arrays = {
            "entities": self.entities_, "hist": self.hist_, "windows": self.windows_,
            "hours": self.hours_,
            **{f"seen_{c}": np.array(self.seen_[c].to_list(), dtype=str)
               for c in ("entity", "dimension", "value")},
        }
        return meta, arrays

    @classmethod
    def from_state(
        cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
        arrays: dict[str, np.ndarray],
    ) -> Self:
        det = cls(**params)
        det._reset()
        det.entities_ = np.asarray(arrays["entities"], dtype=str)
        det.hist_ = np.asarray(arrays["hist"], dtype=np.float64)
        det.windows_ = np.asarray(arrays["windows"], dtype=np.float64)
        det.hours_ = np.asarray(arrays["hours"], dtype=np.float64)
        det.seen_ = pl.DataFrame({c: arrays[f"seen_{c}"].tolist()
                                  for c in ("entity", "dimension", "value")},
                                 schema={"entity": pl.String, "dimension": pl.String,
                                         "value": pl.String})
        return det


def _explanation(f: pl.DataFrame) -> Explanation:
    rows: list[dict[str, Any]] = f.to_dicts()
    contribs = tuple(
        Contribution(feature=r["dimension"], value=r["observed"], baseline=r["baseline_median"],
                     contribution=float(r["score"]),
                     detail=f"percentile {r['percentile']:.1f}")
        for r in rows
    )
    return Explanation(text="; ".join(r["explanation"] for r in rows[:3]),
                       contributions=contribs,
                       extra={"window": rows[0]["window"], "peer_group": rows[0]["peer_group"]})
