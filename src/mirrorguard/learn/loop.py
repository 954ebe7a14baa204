"""The analyst loop: a verdict is screened, stored, published, and then teaches.

Every verdict first passes the feedback screen — by default the feedback-integrity guard
(:class:`~mirrorguard.learn.guarded.GuardedFeedbackScreen`: peer and evidence agreement, rate
limits, the two-person rule). An accepted verdict, counted at the screen's ``weight`` (a
weight-0.3 verdict is 0.3 of a verdict),

1. moves the detector's weight (and threshold, when it has one) within bounds
   (:mod:`.weights`);
2. queues its alerts for retraining with label 1 (true positive) or 0 (false positive or
   benign true positive) and the weight as sample weight (:mod:`.retrain`; the retrain later
   passes the guard's data screen);
3. for a false or benign true positive with scope ``entity`` or ``rule``, *proposes* a
   suppression (an analyst adds it to the :class:`~mirrorguard.respond.book.SuppressionBook`
   after looking at its preview; nothing is suppressed silently).

A verdict the screen rejects is stored with the reason and published, and teaches nothing. A
*held* verdict (two-person rule) is stored and published with its request id and teaches only
once a different analyst approves it (:meth:`AnalystLoop.approve`); the approval, or its
refusal, is published too, so the ledger has both people. Over a store, a new loop replays the
stored verdicts through a stateful screen, so a restart keeps the guard's memory and the
pending requests. (Detector weights, thresholds and the retrain queue are in memory, as
before.)

>>> from datetime import datetime, UTC
>>> from mirrorguard.schema.alerts import VerdictLabel
>>> loop = AnalystLoop()
>>> v = Verdict("alert", "a1", "alice", VerdictLabel.FALSE_POSITIVE, "backup job", "entity",
...             datetime(2024, 1, 1, tzinfo=UTC))
>>> out = loop.record(v, VerdictContext("ueba", "volume", ("host:backup01",), 0.9, ("a1",)))
>>> out.decision.status, out.decision.reason, out.queued  # it proposes a suppression
('held', 'two_person_rule', 0)
>>> out = loop.approve(out.decision.request_id or "", "bob", v.time)
>>> out.proposal.detector, out.proposal.entities, round(out.weight, 2), out.queued
('ueba', ('host:backup01',), 0.95, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from mirrorguard.bus import BusEvent, EventBus, EventKind
from mirrorguard.correlate.base import AUTOMATION
from mirrorguard.correlate.engine import EntityCorrelator
from mirrorguard.errors import ConfigError, MirrorguardError
from mirrorguard.learn.guarded import GuardedFeedbackScreen
from mirrorguard.learn.retrain import RetrainItem, RetrainQueue
from mirrorguard.learn.verdicts import (
    ApprovalScreen,
    FeedbackScreen,
    ScreenDecision,
    Verdict,
    VerdictContext,
    VerdictStore,
    proposes_suppression,
)
from mirrorguard.learn.weights import DetectorWeights, Thresholds
from mirrorguard.respond.suppress import Suppression
from mirrorguard.schema.alerts import VerdictLabel


@dataclass(frozen=True)
class VerdictOutcome:
    """What one verdict did. ``weight`` is the detector's weight after it (None if it taught
    nothing); the screen's weight for the verdict is ``decision.weight``."""

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
    screen: FeedbackScreen = field(default_factory=GuardedFeedbackScreen)
    weights: DetectorWeights = field(default_factory=DetectorWeights)
    thresholds: Thresholds = field(default_factory=Thresholds)
    retrain: RetrainQueue = field(default_factory=RetrainQueue)
    con: duckdb.DuckDBPyConnection | None = None
    proposal_ttl: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        self.store = VerdictStore(self.con) if self.con is not None else None
        self._held: dict[str, tuple[Verdict, VerdictContext]] = {}
        if self.store is not None:
            self._replay(self.store)

    def _replay(self, store: VerdictStore) -> None:
        """Rebuild a stateful screen's memory and the pending requests from the store."""
        screen = self.screen if isinstance(self.screen, ApprovalScreen) else None
        for v, ctx, row in store.history():
            pending = row["request_id"] if row["status"] == "held" else None
            if screen is not None:
                screen.replay(v, ctx, pending)
            if pending:
                self._held[pending] = (v, ctx)

    def record(self, verdict: Verdict, context: VerdictContext) -> VerdictOutcome:
        """Screen, store, publish and (if accepted) learn from one verdict."""
        decision = self.screen.screen(verdict, context)
        if self.store is not None:
            self.store.add(verdict, decision, context)
        self._publish("verdict", verdict.analyst, {
            **verdict.to_dict(), "accepted": decision.accepted, "status": decision.status,
            "screen_reason": decision.reason, "screen_weight": decision.learning_weight,
            "request_id": decision.request_id, "detector": context.detector})
        if decision.held and decision.request_id is not None:
            self._held[decision.request_id] = (verdict, context)
        if not decision.accepted:
            return VerdictOutcome(verdict, decision)
        return self._learn(verdict, context, decision)

    def pending(self) -> dict[str, tuple[Verdict, VerdictContext]]:
        """Held verdicts waiting for a second analyst, by request id."""
        return dict(self._held)

    def approve(self, request_id: str, approver: str, time: datetime) -> VerdictOutcome:
        """A second analyst approves a held verdict (two-person rule); it then teaches.

        The screen refuses self-approval and flagged analysts; a refusal is published and the
        request stays pending. Unknown requests and a screen without approvals are errors.
        """
        held = self._held.get(request_id)
        if held is None:
            raise MirrorguardError(f"no verdict is waiting for approval under {request_id!r}")
        if not approver.strip() or approver == AUTOMATION:
            raise ConfigError("an approval needs a person's id; automation does not approve")
        if not isinstance(self.screen, ApprovalScreen):
            raise ConfigError("this loop's feedback screen has no approvals")
        v, ctx = held
        decision = self.screen.approve(request_id, approver, time)
        self._publish("verdict", approver, {
            "change": "approved" if decision.accepted else "approval_refused",
            "request_id": request_id, "verdict": v.id, "analyst": v.analyst,
            "detector": ctx.detector, "screen_reason": decision.reason,
            "screen_weight": decision.learning_weight, "time": time.isoformat()})
        if not decision.accepted:
            return VerdictOutcome(v, decision)
        del self._held[request_id]
        if self.store is not None:
            self.store.settle(v.id, decision, approver, time)
        return self._learn(v, ctx, decision)

    def _learn(self, verdict: Verdict, context: VerdictContext,
               decision: ScreenDecision) -> VerdictOutcome:
        """Weights, thresholds and retraining, each scaled by the screen's weight."""
        w, label = decision.learning_weight, str(verdict.label)
        weight = self.weights.update(context.detector, label, w)
        threshold = (self.thresholds.update(context.detector, context.score, label, w)
                     if context.score is not None else None)
        target = 1 if verdict.label == VerdictLabel.TRUE_POSITIVE else 0
        ids = context.alert_ids or ((verdict.target_id,) if verdict.target_kind == "alert"
                                    else ())
        for aid in ids:
            self.retrain.put(RetrainItem(context.detector, aid, target, verdict.id, w))
        proposal = self._propose(verdict, context)
        if proposal is not None:
            self._publish("suppression", verdict.analyst, {
                "change": "proposed", "suppression": proposal.id, "rule": proposal.to_dict(),
                "verdict": verdict.id})
        return VerdictOutcome(verdict, decision, proposal, weight, threshold, len(ids))

    def _propose(self, v: Verdict, ctx: VerdictContext) -> Suppression | None:
        if not proposes_suppression(v, ctx):
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
    """The context of a verdict on an alert or incident known to ``correlator``: ``score`` is
    the alert's detector score (an incident's top alert's); ``evidence`` stays empty, since no
    alert carries a calibrated probability yet (see :mod:`.guarded`)."""
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
