"""Suppression rules: scoped, expiring, previewed over stored history, applied retroactively.

A rule's scope is the conjunction of what it names: entity keys (``host:ws-bob`` — all must be
on the alert, normalised as in :mod:`mirrorguard.correlate.entities`), a detector, a rule
(the alert title) and field values on alert columns (``severity: low``; list columns such as
``attack.techniques`` match when they contain the value). A rule with an empty scope is
refused: it would hide everything. Matching is one Polars expression over a whole alert frame.

:func:`preview` answers "what would this have hidden?" over the stored alerts of the last
``days`` days: how many alerts, in how many incidents, and how many of those alerts sit in
incidents (or are themselves) marked true positive by an analyst.

>>> from datetime import datetime, UTC
>>> r = Suppression.create(reason="backup job", created_by="alice", detector="ueba",
...                        entities=("host:backup01",), now=datetime(2024, 1, 1, tzinfo=UTC))
>>> r.id.startswith("sup-"), r.is_active(datetime(2025, 1, 1, tzinfo=UTC))
(True, True)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from mirrorguard.correlate.entities import keys_series, normalise
from mirrorguard.errors import ConfigError
from mirrorguard.schema.alerts import ALERT_SCHEMA

_LIST_FIELDS = {n for n, t in ALERT_SCHEMA.items() if isinstance(t, pl.List)}


@dataclass(frozen=True)
class Suppression:
    """One suppression rule (see the module docstring)."""

    id: str
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    entities: tuple[str, ...] = ()
    detector: str | None = None
    rule: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, *, reason: str, created_by: str, now: datetime,
               ttl: timedelta | None = None, entities: tuple[str, ...] = (),
               detector: str | None = None, rule: str | None = None,
               fields: dict[str, str] | None = None) -> Suppression:
        """Validate a scope and build a rule whose id is a hash of the scope."""
        ents = tuple(sorted({_norm_key(k) for k in entities}))
        flds = dict(sorted((fields or {}).items()))
        for name in flds:
            if name not in ALERT_SCHEMA:
                raise ConfigError(f"suppression field {name!r} is not an alert column")
        if not (ents or detector or rule or flds):
            raise ConfigError("a suppression needs a scope (entity, detector, rule or field)")
        if not reason.strip():
            raise ConfigError("a suppression needs a reason")
        scope = json.dumps([ents, detector, rule, flds], sort_keys=True)
        sid = "sup-" + hashlib.sha256(scope.encode()).hexdigest()[:12]
        return cls(sid, reason, created_by, now, now + ttl if ttl else None, ents, detector,
                   rule, flds)

    def is_active(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def expr(self) -> pl.Expr:
        """A boolean expression over an alert frame that carries an ``entity.keys`` column."""
        conds: list[pl.Expr] = [pl.col("entity.keys").list.contains(k) for k in self.entities]
        if self.detector is not None:
            conds.append(pl.col("detector") == self.detector)
        if self.rule is not None:
            conds.append(pl.col("title") == self.rule)
        for name, value in self.fields.items():
            col = pl.col(name)
            conds.append(col.list.contains(value) if name in _LIST_FIELDS
                         else col.cast(pl.String) == value)
        return pl.all_horizontal(conds)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat()
        d["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        d["entities"] = list(self.entities)
        return d


def _norm_key(key: str) -> str:
    kind, sep, value = key.partition(":")
    if not sep or not value:
        raise ConfigError(f"entity scope {key!r} must look like kind:value (host:ws1)")
    return f"{kind.strip().lower()}:{normalise(kind.strip().lower(), value)}"


def matches(rules: list[Suppression], alerts: pl.DataFrame, now: datetime) -> pl.Series:
    """For each alert, the id of the first active rule that hides it (null when none)."""
    active = [r for r in rules if r.is_active(now)]
    if alerts.height == 0 or not active:
        return pl.Series("suppressed_by", [None] * alerts.height, dtype=pl.String)
    framed = alerts if "entity.keys" in alerts.columns else alerts.with_columns(
        keys_series(alerts))
    expr = pl.lit(None, dtype=pl.String)
    for r in reversed(active):
        expr = pl.when(r.expr()).then(pl.lit(r.id)).otherwise(expr)
    return framed.select(expr.alias("suppressed_by")).to_series()


@dataclass(frozen=True)
class Preview:
    """What a rule would have hidden."""

    days: int
    alerts: int
    incidents: int
    true_positive_alerts: int
    by_detector: dict[str, int]

    def text(self) -> str:
        return (f"this would have hidden {self.alerts} alerts in {self.days} days "
                f"({self.incidents} incidents), {self.true_positive_alerts} of them in "
                "incidents marked true positive")


def preview(rule: Suppression, alerts: pl.DataFrame, membership: pl.DataFrame,
            true_positive: set[str], *, days: int, now: datetime) -> Preview:
    """Impact of ``rule`` over stored ``alerts`` from the last ``days`` days.

    ``membership`` has ``incident_id``/``alert_id``; ``true_positive`` holds alert and
    incident ids an analyst marked true positive.
    """
    recent = alerts.filter(pl.col("@timestamp") >= now - timedelta(days=days))
    hit_ids = recent.filter(matches([_forever(rule)], recent, now).is_not_null())
    hit = hit_ids.select("alert.id", "detector")
    incs = membership.join(hit.select(pl.col("alert.id").alias("alert_id")), on="alert_id")
    tp = incs.filter(pl.col("incident_id").is_in(list(true_positive))
                     | pl.col("alert_id").is_in(list(true_positive)))["alert_id"].n_unique()
    tp_loose = hit.filter(pl.col("alert.id").is_in(list(true_positive))
                          & ~pl.col("alert.id").is_in(incs["alert_id"].to_list())).height
    by_det = dict(hit.group_by("detector").len().sort("detector").iter_rows())
    return Preview(days, hit.height, incs["incident_id"].n_unique(), int(tp) + tp_loose,
                   {str(k): int(v) for k, v in by_det.items()})


def _forever(rule: Suppression) -> Suppression:
    """The same scope without expiry (a preview asks about the past)."""
    return Suppression(rule.id, rule.reason, rule.created_by, rule.created_at, None,
                       rule.entities, rule.detector, rule.rule, rule.fields)
