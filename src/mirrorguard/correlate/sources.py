"""Alert sources for correlation: run the detectors that exist over an EventFrame and return
alerts as frames with :data:`~mirrorguard.schema.alerts.ALERT_SCHEMA` columns.

* :func:`sigma_alerts` — one alert per (Sigma rule, matching event), scored by the rule's
  level, with the rule's ATT&CK techniques and the event's entities;
* :func:`beacon_alerts` — :class:`~mirrorguard.detect.beacon.BeaconDetector` pairs at or above
  a threshold;
* :func:`ueba_alerts` — :class:`~mirrorguard.detect.ueba.UebaDetector` fitted on the events
  before ``split`` and scoring the events after it.

:func:`resolve_hosts` adds host names to alerts that only carry addresses, from the
address → host pairs the events themselves show (a DHCP/inventory view; an address seen with
several hosts is ambiguous and left alone), so a network alert and a host alert about the same
machine can meet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import polars as pl

from mirrorguard.detect.beacon import BeaconDetector
from mirrorguard.detect.ueba import UebaDetector
from mirrorguard.schema.alerts import ALERT_SCHEMA, ENTITY_KINDS, alerts_to_frame
from mirrorguard.schema.fields import SCHEMA_VERSION

ENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "host": ("host.name",),
    "user": ("user.name", "user.target.name"),
    "ip": ("source.ip", "destination.ip"),
    "process": ("process.executable",),
    "hash": ("process.hash.sha256", "file.hash.sha256"),
    "domain": ("dns.question.name", "destination.domain"),
}
LEVEL_SCORE = {"informational": 0.1, "low": 0.3, "medium": 0.5, "high": 0.75, "critical": 0.95}


def empty_alerts() -> pl.DataFrame:
    return pl.DataFrame(schema=ALERT_SCHEMA)


def _entity_lists(events: pl.DataFrame) -> list[pl.Expr]:
    out = []
    for kind in ENTITY_KINDS:
        cols = [c for c in ENTITY_FIELDS.get(kind, ()) if c in events.columns]
        expr = (pl.concat_list([pl.col(c).cast(pl.String) for c in cols])
                .list.drop_nulls().list.filter(pl.element() != "").list.unique().list.sort()
                if cols else pl.lit([], dtype=pl.List(pl.String)))
        out.append(expr.alias(f"entity.{kind}"))
    return out


def _ids(parts: Sequence[Sequence[str]]) -> list[str]:
    return [hashlib.sha256("\x1f".join(p).encode()).hexdigest()[:24] for p in parts]


def sigma_alerts(events: pl.DataFrame, matches: pl.DataFrame, rules: Sequence[object],
                 min_level: str = "low") -> pl.DataFrame:
    """Alerts from Sigma matches (``rule``/``row`` pairs over ``events``).

    ``rules`` are the compiled rules the matches index into (``id``, ``title``, ``level``,
    ``techniques``, ``file`` attributes). Rules below ``min_level`` give no alerts.
    """
    if matches.height == 0:
        return empty_alerts()
    floor = LEVEL_SCORE[min_level]
    meta = pl.DataFrame({
        "rule": list(range(len(rules))),
        "rule_id": [str(getattr(r, "id", "")) for r in rules],
        "title": [str(getattr(r, "title", "")) for r in rules],
        "level": [str(getattr(r, "level", "medium")) for r in rules],
        "techniques": [list(getattr(r, "techniques", ())) for r in rules],
    }, schema_overrides={"techniques": pl.List(pl.String)}).with_columns(
        pl.col("rule").cast(pl.UInt32),
        pl.col("level").replace_strict(LEVEL_SCORE, default=0.5,
                                       return_dtype=pl.Float64).alias("score"))
    meta = meta.filter(pl.col("score") >= floor)
    ev = events.with_row_index("row").select(
        pl.col("row").cast(pl.UInt32), "@timestamp", pl.col("event.id").cast(pl.String),
        *_entity_lists(events))
    hit = matches.join(meta, on="rule").join(ev, on="row")
    ids = _ids(list(zip(["sigma"] * hit.height, hit["rule_id"].to_list(),
                        hit["event.id"].fill_null("").to_list(), strict=True)))
    text = pl.format("Sigma rule '{}' ({}) matched", pl.col("title"), pl.col("level"))
    return hit.with_columns(
        pl.Series("alert.id", ids, dtype=pl.String), pl.lit("sigma").alias("detector"),
        text.alias("explanation.text"),
        pl.struct(pl.col("rule_id").alias("rule"), "level").struct.json_encode()
        .alias("explanation.json"),
        pl.col("level").alias("severity"), pl.col("techniques").alias("attack.techniques"),
        pl.concat_list(pl.col("event.id").fill_null("")).alias("evidence.event_ids"),
        pl.col("rule_id").alias("model.version"),
        pl.lit(SCHEMA_VERSION, dtype=pl.Int32).alias("schema_version"),
    ).select([pl.col(n).cast(t) for n, t in ALERT_SCHEMA.items()])


def beacon_alerts(events: pl.DataFrame, threshold: float = 0.85) -> pl.DataFrame:
    """Beaconing alerts over the connection events of ``events``."""
    need = ("@timestamp", "source.ip", "destination.ip")
    if any(c not in events.columns for c in need):
        return empty_alerts()
    conn = events.filter(pl.col("source.ip").is_not_null() & pl.col("destination.ip")
                         .is_not_null())
    if "event.dataset" in conn.columns:
        conn = conn.filter(pl.col("event.dataset") != "zeek.dns")
    if conn.height == 0:
        return empty_alerts()
    det = BeaconDetector(levels=("ip",)).fit(conn)
    return alerts_to_frame(det.alerts(conn, threshold))


def ueba_alerts(events: pl.DataFrame, entity: str, split: datetime,
                threshold: float = 0.9) -> pl.DataFrame:
    """UEBA alerts for ``entity`` after ``split``, baselines learnt from before it."""
    if entity not in events.columns:
        return empty_alerts()
    history = events.filter((pl.col("@timestamp") < split) & pl.col(entity).is_not_null())
    recent = events.filter((pl.col("@timestamp") >= split) & pl.col(entity).is_not_null())
    if history.height == 0 or recent.height == 0:
        return empty_alerts()
    det = UebaDetector(entity=entity).fit(history)
    return alerts_to_frame(det.alerts(recent, threshold))


def resolve_hosts(alerts: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Add ``entity.host`` values for alert addresses that map to exactly one host.

    Pairs come from network events only (their ``source.ip`` is the host's own address; a
    logon's ``source.ip`` is the remote client's).
    """
    if alerts.height == 0 or not {"host.name", "source.ip"} <= set(events.columns):
        return alerts
    outbound = events
    if "event.category" in events.columns:
        outbound = events.filter(pl.col("event.category") == "network")
    pairs = (outbound.select(pl.col("source.ip").alias("ip"), pl.col("host.name").alias("h"))
             .drop_nulls().unique())
    one = pairs.group_by("ip").agg(pl.col("h").first(), pl.len().alias("n")).filter(
        pl.col("n") == 1).select("ip", "h")
    extra = (alerts.select("alert.id", pl.col("entity.ip").alias("ip")).explode("ip")
             .join(one, on="ip").group_by("alert.id").agg(pl.col("h").unique()))
    out = alerts.join(extra, on="alert.id", how="left", maintain_order="left")
    return out.with_columns(
        pl.concat_list(pl.col("entity.host"), pl.col("h").fill_null(pl.lit([], pl.List(
            pl.String)))).list.unique().list.sort().alias("entity.host")).drop("h")



ACTOR_FIELDS = {"host": "host.name", "user": "user.name", "ip": "source.ip"}


def expand_entities(alerts: pl.DataFrame, events: pl.DataFrame,
                    max_evidence: int = 20) -> pl.DataFrame:
    """Add the actor entities (host, user, source address) of each alert's evidence events.

    A detector names the entity it scored (a UEBA alert names the user); the events it cites
    say where that happened (the logon's host and client address). Only the first
    ``max_evidence`` cited events count, so a volume alert citing thousands of flows does not
    become a hub of everything it touched.
    """
    cols = {k: c for k, c in ACTOR_FIELDS.items() if c in events.columns}
    if alerts.height == 0 or "event.id" not in events.columns or not cols:
        return alerts
    ev = events.select(pl.col("event.id").cast(pl.String),
                       *[pl.col(c).cast(pl.String).alias(k) for k, c in cols.items()])
    cited = (alerts.select("alert.id", pl.col("evidence.event_ids").list.head(max_evidence)
                           .alias("event.id")).explode("event.id").join(ev, on="event.id"))
    extra = cited.group_by("alert.id").agg(
        [pl.col(k).drop_nulls().unique().alias(f"+{k}") for k in cols])
    out = alerts.join(extra, on="alert.id", how="left", maintain_order="left")
    empty = pl.lit([], pl.List(pl.String))
    return out.with_columns(
        pl.concat_list(pl.col(f"entity.{k}"), pl.col(f"+{k}").fill_null(empty))
        .list.unique().list.sort().alias(f"entity.{k}") for k in cols
    ).drop([f"+{k}" for k in cols])
