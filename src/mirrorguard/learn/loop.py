"""The analyst loop: a verdict is screened, stored, published, and then teaches.

An accepted verdict

1. moves the detector's weight (and threshold, when it has one) within bounds
   (:mod:`.weights`);
2. queues its alerts for retraining with label 1 (true positive) or 0 (false positive or
   benign true positive) (:mod:`.retrain`; the retrain later passes the guard's data screen);
3. for a false or benign true positive with scope ``entity`` or ``rule``, *proposes* a
   suppression (an analyst adds it to the :class:`~mirrorguard.respond.book.SuppressionBook`
   after looking at its preview; nothing is suppressed silently).

A verdict the screen rejects is stored with the reason and published, and teaches nothing.

>>> from datetime import datetime, UTC
>>> from mirrorguard.schema.alerts import VerdictLabel
>>> loop = AnalystLoop()
>>> v = Verdict("alert", "a1", "alice", VerdictLabel.FALSE_POSITIVE, "backup job", "entity",
...             datetime(2024, 1, 1, tzinfo=UTC))
>>> out = loop.record(v, VerdictContext("ueba", "volume", ("host:backup01",), 0.9, ("a1",)))
>>> out.proposal.detector, out.proposal.entities, round(out.weight, 2), out.queued
('ueba', ('host:backup01',), 0.95, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import duckdb

from mirrorguard.bus import BusEvent, EventBus, EventKind
from mirrorguard.correlate.engine import EntityCorrelator
from mirrorguard.errors import MirrorguardError
from mirrorguard.learn.retrain import RetrainItem, RetrainQueue
from mirrorguard.learn.verdicts import (
    AcceptAll,
    FeedbackScreen,
    ScreenDecision,
    Verdict,
    VerdictContext,
    VerdictStore,
)
from mirrorguard.learn.weights import DetectorWeights, Thresholds
from mirrorguard.respond.suppress import Suppression
from mirrorguard.schema.alerts import VerdictLabel


@dataclass(frozen=True)
class VerdictOutcome:
    verdict: Verdict
    decision: ScreenDecision
    proposal: Suppression | None = None
    weight: float | None = None
    threshold: float | None = None
    queued: int = 0


@dataclass
class AnalystLoop:
    """Verdicts in; weights, thresholds, retraining and suppression proposals out."""

    bus: EventBus | None = None
    screen: FeedbackScreen = field(default_factory=AcceptAll)
    weights: DetectorWeights = field(default_factory=DetectorWeights)
    thresholds: Thresholds = field(default_factory=Thresholds)
    retrain: RetrainQueue = field(default_factory=RetrainQueue)
    con: duckdb.DuckDBPyConnection | None = None
    proposal_ttl: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        self.store = VerdictStore(self.con) if self.con is not None else None

    def record(self, verdict: Verdict, context: VerdictContext) -> VerdictOutcome:
        """Screen, store, publish and learn from one verdict."""
        decision = self.screen.screen(verdict, context)
        if self.store is not None:
            self.store.add(verdict, decision, context.detector)
        self._publish("verdict", verdict.analyst, {
            **verdict.to_dict(), "accepted": decision.accepted,
            "screen_reason": decision.reason, "detector": context.detector})
        if not decision.accepted:
            return VerdictOutcome(verdict, decision)
        label = str(verdict.label)
        weight = self.weights.update(context.detector, label)
        threshold = (self.thresholds.update(context.detector, context.score, label)
                     if context.score is not None else None)
        target = 1 if verdict.label == VerdictLabel.TRUE_POSITIVE else 0
        ids = context.alert_ids or ((verdict.target_id,) if verdict.target_kind == "alert"
                                    else ())
        for aid in ids:
            self.retrain.put(RetrainItem(context.detector, aid, target, verdict.id))
        proposal = self._propose(verdict, context)
        if proposal is not None:
            self._publish("suppression", verdict.analyst, {
                "change": "proposed", "suppression": proposal.id, "rule": proposal.to_dict(),
                "verdict": verdict.id})
        return VerdictOutcome(verdict, decision, proposal, weight, threshold, len(ids))

    def _propose(self, v: Verdict, ctx: VerdictContext) -> Suppression | None:
        if v.label == VerdictLabel.TRUE_POSITIVE or v.scope in ("alert", "detector"):
            return None
        if v.scope == "entity" and not ctx.entities:
            return None
        return Suppression.create(
            reason=f"{v.label}: {v.reason}".strip(), created_by=v.analyst, now=v.time,
            ttl=self.proposal_ttl, detector=ctx.detector,
            entities=ctx.entities if v.scope == "entity" else (),
            rule=ctx.title if v.scope == "rule" and ctx.title else None)

    def _publish(self, kind: EventKind, actor: str, payload: dict[str, object]) -> None:
        if self.bus is not None:
            self.bus.publish(BusEvent(kind=kind, actor=actor, payload=payload))


def context_for(correlator: EntityCorrelator, target_kind: str,
                target_id: str) -> VerdictContext:
    """The context of a verdict on an alert or incident known to ``correlator``."""
    if target_kind == "alert":
        rec = correlator.alerts_.get(target_id)
        if rec is None:
            raise MirrorguardError(f"unknown alert {target_id!r}")
        return VerdictContext(rec.detector, rec.title,
                              tuple(k for k in rec.keys if k.partition(":")[0] != "process"),
                              rec.score, (rec.id,))
    inc = correlator.incident(target_id)
    recs = [correlator.alerts_[a] for a in inc.alert_ids]
    top = max(recs, key=lambda r: r.score)
    return VerdictContext(top.detector, top.title, (), top.score, inc.alert_ids,
                          {"incident": inc.id, "detectors": list(inc.detectors)})
