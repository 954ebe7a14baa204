"""Vectorised matching of EventFrames against indicators.

For each indicator group the event values of all its fields are de-duplicated first (events
repeat the same addresses and names), normalised like the indicators (:mod:`.normalize`) and
looked up with hash joins: exact keys for URLs, hashes, e-mails and hostnames; every dot-suffix
of a name against ``domain`` indicators (subdomain matching); per-prefix-length keys for IPs
and CIDRs (:mod:`.ipindex`). Only then are the (few) matching values mapped back to event rows
with ``is_in``. Conjunctions (``AND`` patterns) need all their atoms in the same event.

Each hit gets a status — ``alert``, ``outside_validity`` (event time outside
``[valid_from, valid_until)``), ``warninglist`` (the event value is on a warning-list) or
``decayed`` (score below the model's cut-off) — and a score (:mod:`.decay`). Revoked indicators,
``to_ids = false`` attributes and indicators whose own value is warning-listed never enter the
index; they are counted in :attr:`IntelMatcher.compile_counts`.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> from mirrorguard.detect.intel.lists import load_text
>>> m = IntelMatcher(load_text("198.51.100.0/24\\nevil.example\\n8.8.8.8\\n"))
>>> ev = pl.DataFrame({"event.id": ["e1", "e2", "e3"],
...     "@timestamp": [datetime(2024, 1, 1, tzinfo=UTC)] * 3,
...     "destination.ip": ["198.51.100.20", "10.0.0.1", "8.8.8.8"],
...     "dns.question.name": [None, "WWW.Evil.Example.", None]})
>>> m.match(ev).select("event.id", "field", "value", "indicator.value", "status").rows()
[('e1', 'destination.ip', '198.51.100.20', '198.51.100.0/24', 'alert'), \
('e2', 'dns.question.name', 'WWW.Evil.Example.', 'evil.example', 'alert')]
>>> m.compile_counts["warninglisted"]
1
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from mirrorguard.detect.intel.decay import DecayModel, sighting_summary
from mirrorguard.detect.intel.ipindex import IpPrefixIndex
from mirrorguard.detect.intel.model import IntelSet
from mirrorguard.detect.intel.normalize import (
    DEFAULT_FIELDS,
    TYPE_GROUP,
    domain_suffixes,
    normalize,
    parse_ips,
)
from mirrorguard.detect.intel.warninglists import WarningLists, builtin_lists

_PAIR = {"raw": pl.String(), "norm": pl.String(), "ind": pl.UInt32()}
_ATOM_HIT = {"_row": pl.UInt32(), "field": pl.String(), "raw": pl.String(),
             "norm": pl.String(), "group": pl.String(), "ind": pl.UInt32()}
_CARRY = ("indicator.id", "indicator.conj", "indicator.type", "indicator.value",
          "indicator.name", "indicator.feed", "indicator.format", "indicator.confidence",
          "indicator.valid_from", "indicator.valid_until", "indicator.last_seen",
          "indicator.labels", "indicator.techniques", "indicator.decay_lifetime_days",
          "indicator.decay_speed", "indicator.atoms")


@dataclass
class MatchStats:
    """Counters of the last :meth:`IntelMatcher.match` call."""

    events: int = 0
    distinct_values: Counter[str] = field(default_factory=Counter)
    atom_hits: int = 0
    hits: Counter[str] = field(default_factory=Counter)


class IntelMatcher:
    """Indicators compiled for matching. ``match(frame)`` returns one row per (event, indicator).

    ``fields`` maps an indicator group (``ip``, ``domain``, ``url``, ``md5``, ``sha1``,
    ``sha256``, ``email``) to the event fields searched; ``warninglists=None`` uses the built-in
    lists (pass ``WarningLists([])`` for none).
    """

    def __init__(
        self, intel: IntelSet, *, fields: Mapping[str, tuple[str, ...]] = DEFAULT_FIELDS,
        warninglists: WarningLists | None = None, decay: DecayModel | None = None,
        require_to_ids: bool = True, drop_warninglisted: bool = True,
    ) -> None:
        self.fields = dict(fields)
        self.warninglists = warninglists if warninglists is not None else WarningLists(
            builtin_lists())
        self.decay = decay or DecayModel()
        self.stats = MatchStats()
        self.compile_counts: Counter[str] = Counter()
        self.atoms_ = self._active(intel.indicators, require_to_ids, drop_warninglisted)
        self.sightings_ = sighting_summary(intel.sightings)
        self._build_index()

    def _active(self, ind: pl.DataFrame, require_to_ids: bool, drop_wl: bool) -> pl.DataFrame:
        c = self.compile_counts
        c["atoms_loaded"] = ind.height
        c["revoked"] = int(ind["indicator.revoked"].sum())
        keep = ~pl.col("indicator.revoked")
        if require_to_ids:
            c["not_to_ids"] = int((~ind["indicator.to_ids"] & ~ind["indicator.revoked"]).sum())
            keep = keep & pl.col("indicator.to_ids")
        active = ind.filter(keep)
        if drop_wl and active.height:
            groups = active["indicator.type"].replace_strict(TYPE_GROUP, default=None)
            listed = self.warninglists.check(
                active.select(groups.alias("g"), "indicator.value"), "g", "indicator.value")
            c["warninglisted"] = int(listed.is_not_null().sum())
            active = active.filter(listed.is_null())
        c["atoms_indexed"] = active.height
        return active.with_row_index("ind")

    def _build_index(self) -> None:
        a = self.atoms_.with_columns(
            pl.col("indicator.type").replace_strict(TYPE_GROUP, default=None).alias("_g"))
        ips = a.filter(pl.col("_g") == "ip")
        self._ip = IpPrefixIndex(parse_ips(ips["indicator.value"]), ips["ind"])
        dom = a.filter(pl.col("_g") == "domain")
        self._hostnames = dom.filter(pl.col("indicator.type") == "hostname").select(
            pl.col("indicator.value").alias("norm"), "ind")
        self._domains = dom.filter(pl.col("indicator.type") == "domain").select(
            pl.col("indicator.value").alias("suffix"), "ind")
        self._exact = {g: a.filter(pl.col("_g") == g).select(
            pl.col("indicator.value").alias("norm"), "ind")
            for g in ("url", "md5", "sha1", "sha256", "email")}
        self._groups = {g for g in a["_g"].unique().to_list() if g}

    # -- per-group lookups on distinct values ----------------------------------------------
    def _lookup(self, group: str, raw: pl.Series) -> pl.DataFrame:
        """(raw, norm, ind) for the distinct raw values that match an atom of ``group``."""
        if group == "ip":
            parsed = parse_ips(raw).with_row_index("_q")
            found = self._ip.lookup(parsed).rename({"id": "ind"})
            return found.join(parsed.select("_q", pl.col("value").alias("raw")), on="_q").select(
                "raw", pl.col("raw").str.strip_chars().alias("norm"), "ind")
        if group == "email":  # one field may hold a comma-separated list of addresses
            vals = pl.DataFrame({"raw": raw, "part": raw.str.split(",")}).explode("part")
            vals = vals.with_columns(normalize(group, vals["part"]).alias("norm"))
        else:
            vals = pl.DataFrame({"raw": raw, "norm": normalize(group, raw)})
        vals = vals.drop_nulls("norm")
        if group != "domain":
            return vals.join(self._exact[group], on="norm").select(_PAIR.keys())
        exact = vals.join(self._hostnames, on="norm")
        sfx = domain_suffixes(vals["norm"].unique()).join(self._domains, on="suffix")
        by_suffix = vals.join(sfx.select(pl.col("name").alias("norm"), "ind"), on="norm")
        return pl.concat([exact.select(_PAIR.keys()), by_suffix.select(_PAIR.keys())])

    def _group_hits(self, events: pl.DataFrame, group: str) -> list[pl.DataFrame]:
        cols = [f for f in self.fields.get(group, ()) if f in events.columns]
        if not cols:
            return []
        distinct = pl.concat([_flat(events, f).unique() for f in cols]).unique().drop_nulls()
        self.stats.distinct_values[group] += distinct.len()
        pairs = self._lookup(group, distinct)
        if pairs.height == 0:
            return []
        wanted = pairs["raw"].unique().implode()
        out = []
        for f in cols:
            rows = _rows_with(events, f, wanted)
            if rows.height:
                out.append(rows.join(pairs, on="raw").select(
                    "_row", pl.lit(f).alias("field"), "raw", "norm", pl.lit(group).alias("group"),
                    "ind"))
        return out

    # -- matching ---------------------------------------------------------------------------
    def match(self, events: pl.DataFrame) -> pl.DataFrame:
        """Hits of ``events`` (needs ``@timestamp``; ``event.id`` is carried when present)."""
        self.stats = MatchStats(events=events.height)
        parts = [h for g in sorted(self._groups) for h in self._group_hits(events, g)]
        atom_hits = pl.concat(parts) if parts else pl.DataFrame(schema=_ATOM_HIT)
        self.stats.atom_hits = atom_hits.height
        hits = self._conjunctions(atom_hits)
        hits = hits.sort("_row", "indicator.id")
        carried = [c for c in ("@timestamp", "event.id") if c in events.columns]
        hits = hits.with_columns(events.get_column(c).gather(hits["_row"]) for c in carried)
        hits = hits.with_columns(_utc(hits.get_column("@timestamp")))
        hits = self._score(hits)
        self.stats.hits.update(dict(zip(*hits["status"].value_counts().to_dict(
            as_series=False).values(), strict=True)))
        return hits

    def _conjunctions(self, atom_hits: pl.DataFrame) -> pl.DataFrame:
        """One row per (event, indicator): field restrictions applied, AND atoms all present."""
        meta = self.atoms_.select("ind", "indicator.fields", *_CARRY)
        h = atom_hits.join(meta, on="ind").filter(
            (pl.col("indicator.fields").list.len() == 0)
            | pl.col("indicator.fields").list.contains(pl.col("field")))
        h = h.sort("_row", "ind", "field")
        grouped = h.group_by("_row", "indicator.id", "indicator.conj", maintain_order=True).agg(
            pl.col("ind").n_unique().alias("_n"), pl.col("field").unique(maintain_order=True)
            .str.join(",").alias("field"),
            pl.col("raw").unique(maintain_order=True).str.join(",").alias("value"),
            pl.col("norm").first().alias("_norm"), pl.col("group").first().alias("_group"),
            *[pl.col(c).first() for c in _CARRY if c not in ("indicator.id", "indicator.conj")],
        ).filter(pl.col("_n") == pl.col("indicator.atoms"))
        return grouped.unique(["_row", "indicator.id"], keep="first",
                              maintain_order=True).drop("_n")

    def _score(self, hits: pl.DataFrame) -> pl.DataFrame:
        hits = hits.join(self.sightings_, on="indicator.id", how="left")
        hits = hits.with_columns(self.decay.score_expr())
        wl = self.warninglists.check(hits, "_group", "_norm") if hits.height else pl.Series(
            "warninglist", [], dtype=pl.String)
        ts = pl.col("@timestamp")
        outside = (ts < pl.col("indicator.valid_from")).fill_null(False) | (
            ts >= pl.col("indicator.valid_until")).fill_null(False)
        status = (pl.when(outside).then(pl.lit("outside_validity"))
                  .when(pl.col("warninglist").is_not_null()).then(pl.lit("warninglist"))
                  .when(pl.col("score") < self.decay.min_score).then(pl.lit("decayed"))
                  .otherwise(pl.lit("alert")))
        return hits.with_columns(wl).with_columns(status.alias("status")).with_columns(
            pl.col("_pos").fill_null(0).alias("sightings"),
            pl.col("_fp").fill_null(0).alias("false_positives"),
        ).drop("_pos", "_fp", "_last_pos")


def _utc(ts: pl.Series) -> pl.Series:
    """Event times as ``Datetime(us, UTC)`` (naive times are read as UTC; any zone converted)."""
    if not isinstance(ts.dtype, pl.Datetime):
        ts = ts.cast(pl.Datetime("us"))
    ts = ts.dt.cast_time_unit("us")
    zone = ts.dtype.time_zone if isinstance(ts.dtype, pl.Datetime) else None
    return ts.dt.replace_time_zone("UTC") if zone is None else ts.dt.convert_time_zone("UTC")


def _flat(events: pl.DataFrame, name: str) -> pl.Series:
    """One field's non-null values as strings (list fields such as ``dns.resolved_ip``
    flattened)."""
    col = events.get_column(name).drop_nulls()
    if isinstance(col.dtype, pl.List):
        col = col.explode().drop_nulls()
    return col if col.dtype == pl.String else col.cast(pl.String)


def _rows_with(events: pl.DataFrame, name: str, wanted: pl.Series) -> pl.DataFrame:
    """(``_row``, ``raw``) of the rows whose field value is in ``wanted`` (an imploded list)."""
    col = events.get_column(name)
    if isinstance(col.dtype, pl.List):
        inner = col if col.dtype == pl.List(pl.String) else col.cast(pl.List(pl.String))
        hit = inner.list.eval(pl.element().is_in(wanted)).list.any().fill_null(False)
        idx = hit.arg_true().cast(pl.UInt32)
        frame = pl.DataFrame({"_row": idx, "raw": inner.gather(idx)}).explode("raw")
        return frame.filter(pl.col("raw").is_in(wanted))
    if col.dtype != pl.String:
        col = col.cast(pl.String)
    idx = col.is_in(wanted).fill_null(False).arg_true().cast(pl.UInt32)
    return pl.DataFrame({"_row": idx, "raw": col.gather(idx)})
