"""Intel hits → alerts (detector ``intel``): one alert per (indicator, matched value) per batch.

An alert carries the indicator (id, type, value, feed, name), the event field and value that
matched, the decayed score (alert score = score / 100), sightings and false-positive reports,
ATT&CK techniques the feed linked to the indicator, the evidence event ids (first
``max_evidence``; the explanation gives the total) and the entities of the evidence events
(hosts, users, addresses) so that correlation can link the alert.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> from mirrorguard.detect.intel.lists import load_text
>>> from mirrorguard.detect.intel.matcher import IntelMatcher
>>> ev = pl.DataFrame({"event.id": ["e1", "e2"], "host.name": ["ws1", "ws2"],
...     "@timestamp": [datetime(2024, 1, 1, tzinfo=UTC)] * 2,
...     "destination.ip": ["198.51.100.20", "198.51.100.20"]})
>>> m = IntelMatcher(load_text("198.51.100.0/24", feed="demo"))
>>> a = hits_to_alerts(m.match(ev), ev)
>>> a.select("title", "severity", "evidence.event_ids", "entity.host").rows()
[('Threat intel match: ipv4 198.51.100.0/24', 'medium', ['e1', 'e2'], ['ws1', 'ws2'])]
>>> a["explanation.text"][0]
'destination.ip 198.51.100.20 matches ipv4 indicator 198.51.100.0/24 from demo (confidence 50, \
score 50, 2 events)'
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mirrorguard.schema.alerts import (
    Alert,
    Contribution,
    Explanation,
    Severity,
    alerts_to_frame,
)

DETECTOR = "intel"
_ENTITY_OF_GROUP = {"ip": "ip", "domain": "domain", "url": "domain", "md5": "hash",
                    "sha1": "hash", "sha256": "hash", "email": "user"}
_EVENT_ENTITIES = {"host": ("host.name",), "user": ("user.name",),
                   "ip": ("source.ip", "destination.ip")}


def severity_of(score: float) -> Severity:
    """Intel alone never says *critical*: ≥80 high, ≥50 medium, ≥20 low, else informational."""
    if score >= 80:
        return Severity.HIGH
    if score >= 50:
        return Severity.MEDIUM
    if score >= 20:
        return Severity.LOW
    return Severity.INFORMATIONAL


def _grouped(hits: pl.DataFrame, events: pl.DataFrame | None) -> pl.DataFrame:
    active = hits.filter(pl.col("status") == "alert")
    extra: list[pl.Expr] = []
    if events is not None:
        cols = [c for cols in _EVENT_ENTITIES.values() for c in cols if c in events.columns]
        active = active.with_columns(events.get_column(c).gather(active["_row"]).alias(f"_e.{c}")
                                     for c in cols)
        extra = [pl.col(f"_e.{c}").drop_nulls().unique(maintain_order=True).alias(f"_e.{c}")
                 for c in cols]
    eid = pl.col("event.id") if "event.id" in active.columns else pl.col("_row").cast(pl.String)
    return active.sort("@timestamp", "_row").group_by(
        "indicator.id", "value", maintain_order=True).agg(
        pl.col("@timestamp").min(), eid.alias("_evidence"), pl.col("score").max(),
        pl.col("field").first(), pl.col("_group").first(), pl.col("_norm").first(),
        pl.col("indicator.type").first(), pl.col("indicator.value").first(),
        pl.col("indicator.feed").first(), pl.col("indicator.name").first(),
        pl.col("indicator.confidence").first(), pl.col("indicator.techniques").first(),
        pl.col("indicator.labels").first(), pl.col("sightings").first(),
        pl.col("false_positives").first(), *extra)


def _alert(rec: dict[str, Any], default_conf: int, max_evidence: int) -> Alert:
    conf = rec["indicator.confidence"]
    conf = default_conf if conf is None else conf
    n = len(rec["_evidence"])
    notes = [f"confidence {conf}", f"score {rec['score']:.0f}"]
    if rec["sightings"]:
        notes.append(f"{rec['sightings']} sightings")
    if rec["false_positives"]:
        notes.append(f"{rec['false_positives']} false-positive reports")
    notes.append(f"{n} event{'s' if n != 1 else ''}")
    feed = rec["indicator.feed"] or "unknown feed"
    text = (f"{rec['field']} {rec['value']} matches {rec['indicator.type']} indicator "
            f"{rec['indicator.value']} from {feed} ({', '.join(notes)})")
    entities: dict[str, set[str]] = {_ENTITY_OF_GROUP[rec["_group"]]: {rec["_norm"]}}
    for kind, cols in _EVENT_ENTITIES.items():
        for c in cols:
            entities.setdefault(kind, set()).update(rec.get(f"_e.{c}") or ())
    contributions = (
        Contribution("confidence", float(conf), None, float(conf), "feed confidence (0-100)"),
        Contribution("score", float(rec["score"]), float(conf), float(rec["score"]) - conf,
                     "after time decay and false-positive reports"),
    )
    extra = {k: rec[f"indicator.{k}"] for k in ("id", "type", "value", "feed", "name")}
    extra.update(field=rec["field"], matched=rec["value"], events=n,
                 labels=list(rec["indicator.labels"]), sightings=rec["sightings"],
                 false_positives=rec["false_positives"])
    return Alert(
        time=rec["@timestamp"], detector=DETECTOR, score=float(rec["score"]) / 100.0,
        severity=severity_of(float(rec["score"])), title=(
            f"Threat intel match: {rec['indicator.type']} {rec['indicator.value']}"),
        explanation=Explanation(text, contributions, {"indicator": extra}),
        entities={k: tuple(sorted(v)) for k, v in entities.items() if v},
        techniques=tuple(rec["indicator.techniques"]),
        evidence=tuple(rec["_evidence"][:max_evidence]), model_version="intel/1",
    )


def hits_to_alerts(
    hits: pl.DataFrame, events: pl.DataFrame | None = None, *, default_confidence: int = 50,
    max_evidence: int = 100,
) -> pl.DataFrame:
    """Alerts (``ALERT_SCHEMA`` frame) from the ``alert``-status hits of
    :meth:`IntelMatcher.match`; ``events`` (the matched frame) adds entities."""
    grouped = _grouped(hits, events)
    return alerts_to_frame([_alert(r, default_confidence, max_evidence)
                            for r in grouped.iter_rows(named=True)])
