"""Analyst verdicts and the screen every verdict passes before it teaches anything.

A :class:`Verdict` is a person's judgement on an alert or an incident: label (true
positive, benign true positive, false positive), reason and scope — how far it generalises:

* ``alert`` — this alert only;
* ``entity`` — this detector on these entities (proposes an entity-scoped suppression);
* ``rule`` — this detector's rule (the alert title) anywhere;
* ``detector`` — the detector as a whole (weights only, never a blanket suppression).

Verdicts come from people: ``analyst="automation"`` is refused, so an automated closure (an
incident status change with actor ``automation``) can never be mistaken for a verdict.

:class:`FeedbackScreen` is the seam where the guard's feedback-integrity screen plugs in
(``guard/data``); the default :class:`AcceptAll` accepts everything.

>>> from datetime import datetime, UTC
>>> v = Verdict("alert", "a1", "alice", VerdictLabel.FALSE_POSITIVE, "backup job", "entity",
...             datetime(2024, 1, 1, tzinfo=UTC))
>>> v.id.startswith("vrd-"), AcceptAll().screen(v, VerdictContext("ueba")).accepted
(True, True)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import duckdb

from mirrorguard.correlate.base import AUTOMATION
from mirrorguard.errors import ConfigError
from mirrorguard.schema.alerts import VerdictLabel
from mirrorguard.schema.fields import SCHEMA_VERSION

Target = Literal["alert", "incident"]
Scope = Literal["alert", "entity", "rule", "detector"]
SCOPES: tuple[Scope, ...] = ("alert", "entity", "rule", "detector")


@dataclass(frozen=True)
class Verdict:
    target_kind: Target
    target_id: str
    analyst: str
    label: VerdictLabel
    reason: str
    scope: Scope
    time: datetime

    def __post_init__(self) -> None:
        if not self.analyst.strip() or self.analyst == AUTOMATION:
            raise ConfigError("a verdict needs a person's id; automation does not give verdicts")
        if self.scope not in SCOPES:
            raise ConfigError(f"unknown verdict scope {self.scope!r}; known: {SCOPES}")
        if self.target_kind not in ("alert", "incident"):
            raise ConfigError(f"a verdict is on an alert or an incident, not {self.target_kind!r}")

    @property
    def id(self) -> str:
        key = json.dumps([self.target_kind, self.target_id, self.analyst, str(self.label),
                          self.scope, self.time.isoformat()])
        return "vrd-" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "target_kind": self.target_kind, "target_id": self.target_id,
                "analyst": self.analyst, "label": str(self.label), "reason": self.reason,
                "scope": self.scope, "time": self.time.isoformat()}


@dataclass(frozen=True)
class VerdictContext:
    """What the verdict is about: the detector, rule, entities and scores of its alerts."""

    detector: str
    title: str = ""
    entities: tuple[str, ...] = ()
    score: float | None = None
    alert_ids: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScreenDecision:
    accepted: bool
    reason: str = ""


@runtime_checkable
class FeedbackScreen(Protocol):
    """Decides whether a verdict may teach (the guard's feedback-integrity screen)."""

    def screen(self, verdict: Verdict, context: VerdictContext) -> ScreenDecision: ...


class AcceptAll:
    """The default screen: every verdict is accepted."""

    def screen(self, verdict: Verdict, context: VerdictContext) -> ScreenDecision:
        return ScreenDecision(True, "accepted (no screen configured)")


_DDL = """CREATE TABLE IF NOT EXISTS verdicts (
    verdict_id VARCHAR PRIMARY KEY, target_kind VARCHAR, target_id VARCHAR, analyst VARCHAR,
    label VARCHAR, reason VARCHAR, scope VARCHAR, time TIMESTAMPTZ, accepted BOOLEAN,
    screen_reason VARCHAR, detector VARCHAR, schema_version INTEGER)"""


class VerdictStore:
    """The ``verdicts`` table: every verdict, accepted or not, with the screen's reason."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        con.execute(_DDL)

    def add(self, v: Verdict, decision: ScreenDecision, detector: str) -> None:
        self.con.execute(
            "INSERT OR IGNORE INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [v.id, v.target_kind, v.target_id, v.analyst, str(v.label), v.reason, v.scope,
             v.time, decision.accepted, decision.reason, detector, SCHEMA_VERSION])

    def rows(self) -> list[dict[str, Any]]:
        cur = self.con.execute("SELECT * FROM verdicts ORDER BY time, verdict_id")
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
