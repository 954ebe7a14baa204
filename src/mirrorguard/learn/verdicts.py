"""Analyst verdicts and the screen every verdict passes before it teaches anything.

A :class:`Verdict` is a person's judgement on an alert or an incident: label (true
positive, benign true positive, false positive), reason and scope — how far it generalises:

* ``alert`` — this alert only;
* ``entity`` — this detector on these entities (proposes an entity-scoped suppression);
* ``rule`` — this detector's rule (the alert title) anywhere;
* ``detector`` — the detector as a whole (weights only, never a blanket suppression).

A false or benign true positive with scope ``entity`` or ``rule`` *proposes* a suppression
(:func:`proposes_suppression`).

Verdicts come from people: ``analyst="automation"`` is refused, so an automated closure (an
incident status change with actor ``automation``) can never be mistaken for a verdict.

:class:`FeedbackScreen` is the seam where the guard's feedback-integrity screen plugs in: its
:class:`ScreenDecision` says whether the verdict may teach, with what ``weight`` (a weight-0.3
verdict counts as 0.3 of a verdict) and whether it is ``held`` for a second analyst. The
default screen of :class:`~mirrorguard.learn.AnalystLoop` is the guard
(:class:`~mirrorguard.learn.guarded.GuardedFeedbackScreen`); :class:`AcceptAll` accepts
everything and is there only for an explicit opt-out.

:class:`VerdictStore` is the ``verdicts`` table: every verdict with the screen's decision, and
what is needed to replay it (the verdict and its context as JSON, in arrival order ``seq``).

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
    """What the verdict is about: the detector, rule, entities and scores of its alerts.

    ``score`` is the detector's own score (what thresholds move against). ``evidence`` is a
    *calibrated* P(malicious) for the target, when some source has one; the feedback guard
    compares verdicts with it. The two differ on purpose: no detector's alert score is a
    calibrated probability today (sigma maps rule levels to fixed numbers, critical = 1.0).
    """

    detector: str
    title: str = ""
    entities: tuple[str, ...] = ()
    score: float | None = None
    alert_ids: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    evidence: float | None = None


@dataclass(frozen=True)
class ScreenDecision:
    """What the screen decided. ``weight`` (0..1) is how much of one verdict learning may take
    from an accepted verdict; a ``held`` verdict teaches nothing until a second analyst approves
    it under ``request_id`` (a held verdict without a request id waits for a second analyst's own
    verdict on the same target instead)."""

    accepted: bool
    reason: str = ""
    weight: float = 1.0
    held: bool = False
    request_id: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"a screen weight is in [0, 1], got {self.weight}")
        if self.held and self.accepted:
            raise ConfigError("a held verdict is not accepted (yet)")

    @property
    def status(self) -> str:
        return "accepted" if self.accepted else "held" if self.held else "rejected"

    @property
    def learning_weight(self) -> float:
        """The weight learning uses: 0 unless accepted."""
        return self.weight if self.accepted else 0.0


@runtime_checkable
class FeedbackScreen(Protocol):
    """Decides whether a verdict may teach (the guard's feedback-integrity screen)."""

    def screen(self, verdict: Verdict, context: VerdictContext) -> ScreenDecision: ...


@runtime_checkable
class ApprovalScreen(FeedbackScreen, Protocol):
    """A screen with state: held verdicts are approved by a second analyst, and the screen's
    memory (per-analyst statistics, rate windows, pending requests) is rebuilt by replaying the
    stored verdicts in arrival order when a loop starts over a store."""

    def approve(self, request_id: str, approver: str, time: datetime) -> ScreenDecision: ...

    def replay(self, verdict: Verdict, context: VerdictContext,
               pending_id: str | None) -> None: ...


class AcceptAll:
    """Accepts every verdict with full weight (an explicit opt-out of the feedback guard)."""

    def screen(self, verdict: Verdict, context: VerdictContext) -> ScreenDecision:
        return ScreenDecision(True, "accepted (no screen configured)")


def proposes_suppression(v: Verdict, ctx: VerdictContext) -> bool:
    """A false or benign true positive scoped to entities (that are known) or to a rule."""
    if v.label == VerdictLabel.TRUE_POSITIVE or v.scope not in ("entity", "rule"):
        return False
    return v.scope == "rule" or bool(ctx.entities)


_DDL = """CREATE TABLE IF NOT EXISTS verdicts (
    verdict_id VARCHAR PRIMARY KEY, target_kind VARCHAR, target_id VARCHAR, analyst VARCHAR,
    label VARCHAR, reason VARCHAR, scope VARCHAR, time TIMESTAMPTZ, accepted BOOLEAN,
    screen_reason VARCHAR, detector VARCHAR, schema_version INTEGER)"""
# Added later; ALTER keeps stores created before them readable (their rows replay with the
# context they have: NULL record = detector only, no score).
_ADDED = (("weight", "DOUBLE"), ("status", "VARCHAR"), ("request_id", "VARCHAR"),
          ("approved_by", "VARCHAR"), ("approved_at", "TIMESTAMPTZ"), ("seq", "BIGINT"),
          ("record", "VARCHAR"))
_COLUMNS = ("verdict_id", "target_kind", "target_id", "analyst", "label", "reason", "scope",
            "time", "accepted", "screen_reason", "detector", "schema_version", "weight",
            "status", "request_id", "record")
_INSERT = (f"INSERT OR IGNORE INTO verdicts ({', '.join(_COLUMNS)}, seq) "  # noqa: S608 (constants)
           f"SELECT {', '.join('?' * len(_COLUMNS))}, COALESCE(MAX(seq), 0) + 1 FROM verdicts")


def _record(v: Verdict, ctx: VerdictContext) -> str:
    return json.dumps({"verdict": v.to_dict(), "context": {
        "detector": ctx.detector, "title": ctx.title, "entities": list(ctx.entities),
        "score": ctx.score, "alert_ids": list(ctx.alert_ids), "extra": ctx.extra,
        "evidence": ctx.evidence}},
        default=str)


def _from_row(row: dict[str, Any]) -> tuple[Verdict, VerdictContext]:
    """The verdict and context of a stored row; the JSON record keeps the verdict's own time
    (DuckDB hands ``TIMESTAMPTZ`` back in the session zone, which would change the id)."""
    if row.get("record"):
        rec = json.loads(row["record"])
        d, c = rec["verdict"], rec["context"]
        v = Verdict(d["target_kind"], d["target_id"], d["analyst"], VerdictLabel(d["label"]),
                    d["reason"], d["scope"], datetime.fromisoformat(d["time"]))
        return v, VerdictContext(c["detector"], c["title"], tuple(c["entities"]), c["score"],
                                 tuple(c["alert_ids"]), c["extra"], c.get("evidence"))
    v = Verdict(row["target_kind"], row["target_id"], row["analyst"], VerdictLabel(row["label"]),
                row["reason"] or "", row["scope"], row["time"])
    ids = (row["target_id"],) if row["target_kind"] == "alert" else ()
    return v, VerdictContext(row["detector"] or "", alert_ids=ids)


class VerdictStore:
    """The ``verdicts`` table: every verdict, accepted, held or not, with the screen's reason
    and weight; held rows are settled in place when a second analyst approves them."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        con.execute(_DDL)
        for name, kind in _ADDED:
            con.execute(f"ALTER TABLE verdicts ADD COLUMN IF NOT EXISTS {name} {kind}")

    def add(self, v: Verdict, decision: ScreenDecision, context: VerdictContext) -> None:
        values = [v.id, v.target_kind, v.target_id, v.analyst, str(v.label), v.reason, v.scope,
                  v.time, decision.accepted, decision.reason, context.detector, SCHEMA_VERSION,
                  decision.learning_weight, decision.status, decision.request_id,
                  _record(v, context)]
        self.con.execute(_INSERT, values)

    def settle(self, verdict_id: str, decision: ScreenDecision, approver: str,
               time: datetime) -> None:
        """A held verdict approved by ``approver``: accepted from now on, with its weight."""
        self.con.execute(
            "UPDATE verdicts SET accepted = ?, status = 'approved', weight = ?, approved_by = ?, "
            "approved_at = ?, screen_reason = COALESCE(screen_reason || '; ', '') || ? "
            "WHERE verdict_id = ?",
            [decision.accepted, decision.learning_weight, approver, time, decision.reason,
             verdict_id])

    def rows(self) -> list[dict[str, Any]]:
        cur = self.con.execute("SELECT * FROM verdicts ORDER BY seq NULLS FIRST, time, "
                               "verdict_id")
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def history(self) -> list[tuple[Verdict, VerdictContext, dict[str, Any]]]:
        """Every stored verdict with its context and row, in arrival order (for replay)."""
        return [(*_from_row(r), r) for r in self.rows()]
