"""The correlation contract and its records: alerts go in, incidents come out.

A correlator has two methods: ``add(alerts)`` takes a batch of alerts (a frame with
:data:`~mirrorguard.schema.alerts.ALERT_SCHEMA` columns) and returns what changed;
``incidents()`` returns the current incidents. Incidents keep their history: every creation,
merge, split and status change is an :class:`HistoryEntry` with the actor who made it (a
person's id, or ``"automation"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import polars as pl

from mirrorguard.errors import ConfigError

ChangeKind = Literal["created", "updated", "merged", "split", "status"]
Status = Literal["open", "acknowledged", "closed", "merged"]
AUTOMATION = "automation"


@dataclass(frozen=True)
class CorrelationParams:
    """Tunable parameters of the entity correlator (validated on construction).

    * ``window`` — two alerts link through an entity only when that entity was last seen
      at most this long before (a sliding window per entity, so long campaigns chain).
    * ``dedupe_window`` — a repeat of an alert fingerprint within this time adds a repeat
      count, not a new alert to score.
    * ``max_degree`` — the hub rule of :mod:`mirrorguard.correlate.entities`.
    """

    window: timedelta = timedelta(hours=36)
    dedupe_window: timedelta = timedelta(hours=24)
    max_degree: int = 25

    def __post_init__(self) -> None:
        if self.window <= timedelta(0) or self.dedupe_window < timedelta(0):
            raise ConfigError("correlation windows must be positive")
        if self.max_degree < 1:
            raise ConfigError("max_degree must be at least 1")


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to an incident."""

    time: datetime
    action: str
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "action": self.action, "actor": self.actor,
                "detail": self.detail}


@dataclass(frozen=True)
class Incident:
    """A snapshot of one incident."""

    id: str
    status: Status
    risk: float
    first_time: datetime
    last_time: datetime
    alert_ids: tuple[str, ...]
    distinct_alerts: int
    entities: tuple[str, ...]
    detectors: tuple[str, ...]
    tactics: tuple[str, ...]
    chain: int
    title: str
    history: tuple[HistoryEntry, ...] = ()
    assignee: str | None = None

    @property
    def size(self) -> int:
        return len(self.alert_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "risk": round(self.risk, 2),
            "first_time": self.first_time.isoformat(), "last_time": self.last_time.isoformat(),
            "alerts": self.size, "distinct_alerts": self.distinct_alerts,
            "entities": list(self.entities), "detectors": list(self.detectors),
            "tactics": list(self.tactics), "chain": self.chain, "title": self.title,
            "assignee": self.assignee, "history": [h.to_dict() for h in self.history],
        }


@dataclass(frozen=True)
class IncidentChange:
    """What one ``add`` call did to one incident."""

    incident: str
    kind: ChangeKind
    alerts_added: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


class Correlator(Protocol):
    """Alerts in, incidents out."""

    def add(self, alerts: pl.DataFrame) -> list[IncidentChange]:
        """Fold a batch of alerts into the incidents; returns the changes."""
        ...

    def incidents(self) -> list[Incident]:
        """All live (not merged-away) incidents, highest risk first."""
        ...
