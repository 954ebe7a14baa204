"""Alerts, incidents and verdicts: the records detectors and analysts produce.

Alerts travel as Polars frames with :data:`ALERT_SCHEMA` (many per batch) and are built from
:class:`Alert` objects when a detector emits a few. Every persisted record carries
``schema_version``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import polars as pl

from mirrorguard.schema.fields import SCHEMA_VERSION, TIMESTAMP


class Severity(StrEnum):
    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class VerdictLabel(StrEnum):
    TRUE_POSITIVE = "true_positive"
    BENIGN_TRUE_POSITIVE = "benign_true_positive"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True)
class Contribution:
    """One feature's part in a score: what was seen, what is normal, how much it pushed."""

    feature: str
    value: float | str | None
    baseline: float | str | None
    contribution: float
    detail: str = ""


@dataclass(frozen=True)
class Explanation:
    """Why an alert fired: structured contributions plus a one-line narrative."""

    text: str
    contributions: tuple[Contribution, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)


@dataclass(frozen=True)
class Alert:
    """One alert. ``entities`` maps kind (user, host, ip, process, hash, domain) to values."""

    time: datetime
    detector: str
    score: float
    severity: Severity
    explanation: Explanation
    entities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    techniques: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # event.id values
    model_version: str = ""
    title: str = ""

    @property
    def id(self) -> str:
        """Deterministic fingerprint: the same detector on the same evidence gives the same id."""
        key = json.dumps(
            [self.detector, self.title, sorted(self.evidence), self.time.isoformat()],
            sort_keys=True,
        )
        return hashlib.sha256(key.encode()).hexdigest()[:24]


ENTITY_KINDS = ("user", "host", "ip", "process", "hash", "domain")

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "alert.id": pl.String(),
    "@timestamp": TIMESTAMP,
    "detector": pl.String(),
    "title": pl.String(),
    "score": pl.Float64(),
    "severity": pl.String(),
    **{f"entity.{k}": pl.List(pl.String()) for k in ENTITY_KINDS},
    "attack.techniques": pl.List(pl.String()),
    "explanation.text": pl.String(),
    "explanation.json": pl.String(),
    "evidence.event_ids": pl.List(pl.String()),
    "model.version": pl.String(),
    "schema_version": pl.Int32(),
}


def alerts_to_frame(alerts: list[Alert]) -> pl.DataFrame:
    """Alert objects as a frame with :data:`ALERT_SCHEMA`."""
    rows = {name: [] for name in ALERT_SCHEMA}  # type: dict[str, list[Any]]
    for a in alerts:
        rows["alert.id"].append(a.id)
        rows["@timestamp"].append(a.time)
        rows["detector"].append(a.detector)
        rows["title"].append(a.title)
        rows["score"].append(float(a.score))
        rows["severity"].append(str(a.severity))
        for k in ENTITY_KINDS:
            rows[f"entity.{k}"].append(list(a.entities.get(k, ())))
        rows["attack.techniques"].append(list(a.techniques))
        rows["explanation.text"].append(a.explanation.text)
        rows["explanation.json"].append(a.explanation.to_json())
        rows["evidence.event_ids"].append(list(a.evidence))
        rows["model.version"].append(a.model_version)
        rows["schema_version"].append(SCHEMA_VERSION)
    return pl.DataFrame(rows, schema=ALERT_SCHEMA)
