"""Feedback integrity: analysts' verdicts are checked before anything learns from them.

``FeedbackGuard.review(verdict) -> Decision`` is the whole API the learning side needs
(``learn/`` calls it for every verdict before turning verdicts into suppressions, thresholds or
training labels, and uses ``Decision.weight``):

* **Agreement with the evidence and with peers.** Each verdict comes with ``evidence``, the
  probability that the alert is malicious from what the system knows (the detector's calibrated
  score, intel matches). Per detector and evidence bin, the guard learns how often the *other*
  analysts call such alerts false positives (leave-one-analyst-out, shrunk toward ``1 -
  evidence``). Each analyst's verdicts on each detector feed a Bernoulli CUSUM of log-likelihood
  ratios (Page 1954) of "this analyst turns a share ``flip_rate`` of non-FP verdicts into FP"
  against "this analyst behaves like the peers"; crossing ``cusum_h`` flags the analyst, whose
  later verdicts are held for a second reviewer. By Wald's bound, an honest analyst crosses ``h``
  with probability at most ``exp(-h)`` per excursion. Agreement with peers on alerts reviewed by
  several analysts is tracked too and reported.
* **Verdicts contradicting strong evidence** (FP at ``evidence >= strong_evidence``, TP at
  ``evidence <= 1 - strong_evidence``) are flagged and down-weighted.
* **Rate limits**: more than ``rate_per_hour`` verdicts from one analyst in an hour are refused.
* **Two-person rule**: relabels touching ``two_person_affected`` or more past labels, and any
  detector suppression, are held until a different, unflagged analyst approves them.

>>> from datetime import datetime, UTC
>>> g = FeedbackGuard()
>>> v = FeedbackVerdict("ana", datetime(2024, 1, 1, tzinfo=UTC), "a1", "beacon",
...                     VerdictLabel.FALSE_POSITIVE, evidence=0.995)
>>> d = g.review(v)
>>> d.action, d.contradicts_evidence
(<Action.DOWNWEIGHT: 'downweight'>, True)
>>> d = g.review(FeedbackVerdict("ana", v.time, "", "beacon", VerdictLabel.FALSE_POSITIVE,
...                               evidence=0.5, scope="suppress"))
>>> d.action, g.approve(d.request_id or "", "ana", v.time).action
(<Action.HOLD: 'hold'>, <Action.REJECT: 'reject'>)
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import numpy as np
import polars as pl

from mirrorguard.schema.alerts import VerdictLabel

Scope = Literal["alert", "relabel", "suppress"]


@dataclass(frozen=True)
class FeedbackVerdict:
    """One analyst verdict as the guard sees it (built from the learn/ side's Verdict)."""

    analyst: str
    time: datetime
    alert_id: str
    detector: str
    label: VerdictLabel
    evidence: float  # P(malicious) from the evidence, in [0, 1]
    scope: Scope = "alert"
    affected: int = 1  # past labels changed (relabel) or alerts silenced (suppress)
    reason: str = ""


class Action(StrEnum):
    ACCEPT = "accept"
    DOWNWEIGHT = "downweight"
    HOLD = "hold"
    REJECT = "reject"


@dataclass(frozen=True)
class Decision:
    """What to do with a verdict, and with what weight learning may use it."""

    action: Action
    weight: float
    reasons: tuple[str, ...] = ()
    contradicts_evidence: bool = False
    analyst_flagged: bool = False
    request_id: str | None = None


@dataclass(frozen=True)
class FeedbackConfig:
    rate_per_hour: int = 120
    two_person_affected: int = 50
    strong_evidence: float = 0.95
    flip_rate: float = 0.3
    cusum_h: float = 9.0
    bins: int = 12
    prior_strength: float = 10.0
    floor: float = 0.01
    contradiction_weight: float = 0.25


@dataclass
class _Stats:
    """Counts per (detector, bin): all analysts, and per analyst."""

    n: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    fp: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    n_a: dict[tuple[str, str, int], float] = field(default_factory=lambda: defaultdict(float))
    fp_a: dict[tuple[str, str, int], float] = field(default_factory=lambda: defaultdict(float))


class FeedbackGuard:
    """Reviews verdicts one at a time (verdicts arrive at human pace); see the module docstring."""

    def __init__(self, config: FeedbackConfig | None = None) -> None:
        self.config = config or FeedbackConfig()
        self._stats = _Stats()
        self._cusum: dict[tuple[str, str], float] = defaultdict(float)
        self._recent: dict[str, deque[datetime]] = defaultdict(deque)
        self._count: dict[str, int] = defaultdict(int)
        self._flagged: dict[str, dict[str, object]] = {}
        self._pending: dict[str, FeedbackVerdict] = {}
        self._by_alert: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        self._peer: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # agree, total

    # ----- evidence model ----------------------------------------------------------------
    def _bin(self, evidence: float) -> int:
        e = min(max(evidence, 1e-6), 1 - 1e-6)
        logit = np.log(e / (1 - e))
        return int(np.clip(np.floor((logit + 6.0) / 12.0 * self.config.bins), 0,
                           self.config.bins - 1))

    def expected_fp(self, analyst: str, detector: str, evidence: float) -> float:
        """P(an analyst like the peers calls this FP), leaving ``analyst`` out."""
        b, s, cfg = self._bin(evidence), self._stats, self.config
        n = s.n[(detector, b)] - s.n_a[(analyst, detector, b)]
        fp = s.fp[(detector, b)] - s.fp_a[(analyst, detector, b)]
        prior = 1.0 - evidence
        e = (fp + cfg.prior_strength * prior) / (n + cfg.prior_strength)
        return float(np.clip(e, cfg.floor, 1 - cfg.floor))

    def _update_cusum(self, v: FeedbackVerdict, is_fp: bool) -> float:
        e = self.expected_fp(v.analyst, v.detector, v.evidence)
        p1 = e + self.config.flip_rate * (1.0 - e)
        llr = np.log(p1 / e) if is_fp else np.log((1.0 - p1) / (1.0 - e))
        key = (v.analyst, v.detector)
        self._cusum[key] = max(0.0, self._cusum[key] + float(llr))
        return self._cusum[key]

    def _learn(self, v: FeedbackVerdict, is_fp: bool) -> None:
        b, s = self._bin(v.evidence), self._stats
        s.n[(v.detector, b)] += 1
        s.n_a[(v.analyst, v.detector, b)] += 1
        if is_fp:
            s.fp[(v.detector, b)] += 1
            s.fp_a[(v.analyst, v.detector, b)] += 1

    def _peers(self, v: FeedbackVerdict, is_fp: bool) -> None:
        if not v.alert_id:
            return
        for other, other_fp in self._by_alert[v.alert_id]:
            if other != v.analyst:
                for who in (v.analyst, other):
                    self._peer[who][0] += int(other_fp == is_fp)
                    self._peer[who][1] += 1
        self._by_alert[v.alert_id].append((v.analyst, is_fp))

    # ----- the API -----------------------------------------------------------------------
    def _rate_limited(self, v: FeedbackVerdict) -> bool:
        q = self._recent[v.analyst]
        while q and v.time - q[0] >= timedelta(hours=1):
            q.popleft()
        if len(q) >= self.config.rate_per_hour:
            return True
        q.append(v.time)
        return False

    def review(self, v: FeedbackVerdict) -> Decision:
        """Decide on one verdict and update the analyst's record."""
        cfg = self.config
        if self._rate_limited(v):
            return Decision(Action.REJECT, 0.0, ("rate_limited",),
                            analyst_flagged=v.analyst in self._flagged)
        high_impact = v.scope == "relabel" and v.affected >= cfg.two_person_affected
        if v.scope == "suppress" or high_impact:
            rid = hashlib.sha256(f"{v.analyst}|{v.time.isoformat()}|{v.alert_id}|{v.detector}|"
                                 f"{v.scope}|{len(self._pending)}".encode()).hexdigest()[:16]
            self._pending[rid] = v
            return Decision(Action.HOLD, 0.0, ("two_person_rule",), request_id=rid,
                            analyst_flagged=v.analyst in self._flagged)
        is_fp = v.label == VerdictLabel.FALSE_POSITIVE
        contradicts = (is_fp and v.evidence >= cfg.strong_evidence) or (
            v.label == VerdictLabel.TRUE_POSITIVE and v.evidence <= 1 - cfg.strong_evidence)
        self._count[v.analyst] += 1
        score = self._update_cusum(v, is_fp)
        self._peers(v, is_fp)
        self._learn(v, is_fp)
        if score >= cfg.cusum_h and v.analyst not in self._flagged:
            self._flagged[v.analyst] = {"detector": v.detector, "after": self._count[v.analyst],
                                        "time": v.time, "cusum": score}
        reasons = ["contradicts_evidence"] if contradicts else []
        if v.analyst in self._flagged:
            return Decision(Action.HOLD, 0.0, (*reasons, "analyst_flagged"), contradicts, True)
        weight = float(np.exp(-max(self._cusum_max(v.analyst), 0.0) / cfg.cusum_h))
        if contradicts:
            return Decision(Action.DOWNWEIGHT, weight * cfg.contradiction_weight,
                            tuple(reasons), True)
        return Decision(Action.ACCEPT, weight)

    def approve(self, request_id: str, approver: str, time: datetime) -> Decision:
        """Second approval for a held high-impact change (a different, unflagged analyst)."""
        v = self._pending.get(request_id)
        if v is None:
            return Decision(Action.REJECT, 0.0, ("unknown_request",))
        if approver == v.analyst:
            return Decision(Action.REJECT, 0.0, ("self_approval",), request_id=request_id)
        if approver in self._flagged or v.analyst in self._flagged:
            return Decision(Action.REJECT, 0.0, ("flagged_analyst",), request_id=request_id)
        del self._pending[request_id]
        return Decision(Action.ACCEPT, 1.0, (f"approved_by:{approver}",), request_id=request_id)

    def withdraw(self, request_id: str) -> FeedbackVerdict | None:
        """Drop a held request without approving it (settled elsewhere, e.g. found approved
        when replaying stored verdicts); returns what was held, None if nothing was."""
        return self._pending.pop(request_id, None)

    def _cusum_max(self, analyst: str) -> float:
        return max((s for (a, _), s in self._cusum.items() if a == analyst), default=0.0)

    def flagged(self) -> dict[str, dict[str, object]]:
        """Flagged analysts: on which detector, after how many of their verdicts, when."""
        return dict(self._flagged)

    def analyst_report(self) -> pl.DataFrame:
        """Per analyst: verdicts, peer agreement, worst CUSUM and weight, flagged or not."""
        rows = []
        for a in sorted(self._count):
            agree, total = self._peer[a]
            worst = self._cusum_max(a)
            rows.append({"analyst": a, "verdicts": self._count[a], "peer_reviews": total,
                         "peer_agreement": agree / total if total else None,
                         "cusum_max": worst, "flagged": a in self._flagged,
                         "weight": 0.0 if a in self._flagged
                         else float(np.exp(-worst / self.config.cusum_h))})
        return pl.DataFrame(rows, schema={"analyst": pl.String, "verdicts": pl.Int64,
                                          "peer_reviews": pl.Int64, "peer_agreement": pl.Float64,
                                          "cusum_max": pl.Float64, "flagged": pl.Boolean,
                                          "weight": pl.Float64})
