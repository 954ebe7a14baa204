"""The feedback-integrity guard as the analyst loop's screen (issue #7: feedback integrity).

:class:`GuardedFeedbackScreen` puts :class:`~mirrorguard.guard.data.feedback.FeedbackGuard`
behind the :class:`~mirrorguard.learn.verdicts.FeedbackScreen` seam, and is the default screen
of :class:`~mirrorguard.learn.AnalystLoop`. It lives on the learning side (``learn/`` imports
``guard/``, never the reverse). How a verdict becomes what the guard reviews
(:func:`feedback_verdict`):

* **evidence** — P(malicious) from what the system knows: the context's calibrated
  ``evidence`` when it carries one in [0, 1], else 0.5 (no evidence). The detector ``score``
  is *not* used: ``context_for`` fills ``score`` with the alert's detector score, and none of
  those is a calibrated probability (sigma maps rule levels to fixed numbers — critical 1.0,
  high 0.75; beacon is a geometric mean of components, UEBA a percentile mix, intel a
  confidence / 100; auth and web scores are unbounded). Taken as evidence they make every
  honest "false positive" on a noisy rule look like a contradiction of strong evidence: in a
  simulation of five honest analysts on such detectors (true-positive rates 10–30 %), all five
  were flagged within 300 verdicts each, against none with 0.5. With no evidence the guard
  still compares each analyst with the peers per detector; the contradiction check and the
  per-evidence-bin comparison start working as soon as a source fills ``evidence``.
* **label** — what the verdict teaches: a *benign* true positive teaches "not malicious" to the
  retrain queue exactly like a false positive, so the guard sees it as one (otherwise "benign"
  would be a way round the CUSUM on false-positive flips).
* **scope** — ``suppress`` (held for a second analyst: the two-person rule) for a verdict that
  proposes a suppression (false or benign true positive with scope ``entity`` / ``rule``) and
  for every ``detector``-scope verdict (it re-weighs a whole detector); ``relabel`` with
  ``affected`` = number of alerts for a verdict on several alerts (an incident), held when
  that reaches the guard's ``two_person_affected``; ``alert`` otherwise.

The guard's state (per-analyst CUSUMs and counts, peer agreement, rate windows, pending holds)
is in memory. A loop over a store rebuilds it at start by replaying the ``verdicts`` table in
arrival order through :meth:`GuardedFeedbackScreen.replay` — the same reviews in the same order
give the same state, so a restart (every CLI command is one) neither resets a CUSUM nor forgets
a hold. Request ids are derived from the verdict id (``req-…``), so they are the same after a
restart. Replaying costs one review per stored verdict (tens of microseconds each).

>>> from datetime import datetime, UTC
>>> from mirrorguard.schema.alerts import VerdictLabel
>>> g = GuardedFeedbackScreen()
>>> t = datetime(2024, 1, 1, tzinfo=UTC)
>>> d = g.screen(Verdict("alert", "a1", "ana", VerdictLabel.FALSE_POSITIVE, "", "alert", t),
...              VerdictContext("beacon", alert_ids=("a1",), evidence=0.99))
>>> d.accepted, d.reason, round(d.weight, 2)  # 0.25 x the analyst's CUSUM weight
(True, 'contradicts_evidence', 0.17)
>>> d = g.screen(Verdict("alert", "a2", "ana", VerdictLabel.TRUE_POSITIVE, "", "detector", t),
...              VerdictContext("beacon", alert_ids=("a2",)))
>>> d.held, g.approve(d.request_id or "", "ana", t).reason
(True, 'self_approval')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from mirrorguard.guard.data.feedback import (
    Action,
    Decision,
    FeedbackConfig,
    FeedbackGuard,
    FeedbackVerdict,
)
from mirrorguard.learn.verdicts import (
    ScreenDecision,
    Verdict,
    VerdictContext,
    proposes_suppression,
)
from mirrorguard.schema.alerts import VerdictLabel

NO_EVIDENCE = 0.5


def evidence(p: float | None) -> float:
    """A calibrated P(malicious) when there is one (finite, in [0, 1]); else no evidence."""
    if p is None or not math.isfinite(p) or not 0.0 <= p <= 1.0:
        return NO_EVIDENCE
    return float(p)


def feedback_verdict(v: Verdict, ctx: VerdictContext) -> FeedbackVerdict:
    """The verdict as the guard reviews it (see the module docstring for the mapping)."""
    n = len(ctx.alert_ids)
    if v.scope == "detector" or proposes_suppression(v, ctx):
        scope, affected = "suppress", max(n, 1)
    elif n > 1:
        scope, affected = "relabel", n
    else:
        scope, affected = "alert", 1
    label = (VerdictLabel.TRUE_POSITIVE if v.label == VerdictLabel.TRUE_POSITIVE
             else VerdictLabel.FALSE_POSITIVE)
    return FeedbackVerdict(v.analyst, v.time, v.target_id, ctx.detector, label,
                           evidence(ctx.evidence), scope, affected, v.reason)  # type: ignore[arg-type]


def request_id_for(v: Verdict) -> str:
    """The public id of a held verdict's approval request (stable across restarts)."""
    return "req-" + v.id.removeprefix("vrd-")


@dataclass
class GuardedFeedbackScreen:
    """:class:`FeedbackGuard` as a :class:`~mirrorguard.learn.verdicts.ApprovalScreen`."""

    guard: FeedbackGuard = field(default_factory=FeedbackGuard)
    _requests: dict[str, str] = field(default_factory=dict)  # public id -> guard's id

    @classmethod
    def with_config(cls, config: FeedbackConfig) -> GuardedFeedbackScreen:
        return cls(FeedbackGuard(config))

    def screen(self, verdict: Verdict, context: VerdictContext) -> ScreenDecision:
        d = self.guard.review(feedback_verdict(verdict, context))
        public = None
        if d.action is Action.HOLD and d.request_id is not None:
            public = request_id_for(verdict)
            self._requests[public] = d.request_id
        return _decision(d, public)

    def approve(self, request_id: str, approver: str, time: datetime) -> ScreenDecision:
        """A second analyst's approval; refused for oneself, by or for a flagged analyst."""
        rid = self._requests.get(request_id)
        if rid is None:
            return ScreenDecision(False, "unknown_request")
        d = self.guard.approve(rid, approver, time)
        if d.action is Action.ACCEPT:
            del self._requests[request_id]
        return _decision(d, None)

    def replay(self, verdict: Verdict, context: VerdictContext, pending_id: str | None) -> None:
        """Review a stored verdict again to rebuild the guard's state. ``pending_id``: the
        request it still waits under, or None when it was settled (approved, or never held)."""
        d = self.guard.review(feedback_verdict(verdict, context))
        if d.action is not Action.HOLD or d.request_id is None:
            return
        if pending_id is None:
            self.guard.withdraw(d.request_id)
        else:
            self._requests[pending_id] = d.request_id

    def pending(self) -> list[str]:
        """Public ids of the requests waiting for a second analyst."""
        return sorted(self._requests)


def _decision(d: Decision, request_id: str | None) -> ScreenDecision:
    reason = ",".join(d.reasons) or "accepted"
    if d.action is Action.HOLD:
        return ScreenDecision(False, reason, 0.0, held=True, request_id=request_id)
    if d.action is Action.REJECT:
        return ScreenDecision(False, reason, 0.0)
    return ScreenDecision(True, reason, min(max(d.weight, 0.0), 1.0))
