"""Detector weights and thresholds that verdicts move, within bounds.

Weights scale a detector's alert scores in incident risk
(:func:`mirrorguard.correlate.scoring.evidence`). Each accepted verdict multiplies the
detector's weight by ``1 + step`` (true positive) or ``1 − step`` (false positive); benign
true positives leave it (the detector was right, the activity was benign). Weights are clipped
to ``[lo, hi]`` so no run of verdicts can silence a detector or let one drown the others —
the bound is also what limits a malicious analyst.

Thresholds move by a bounded stochastic-approximation step toward separating the labelled
scores: a false positive scoring ``s`` above the threshold ``θ`` raises ``θ`` by
``η·(s − θ)``; a true positive below ``θ`` lowers it by ``η·(θ − s)``; ``θ`` stays in
``[θ_lo, θ_hi]`` (Robbins & Monro, 1951).

A verdict the feedback screen weighs at ``c`` (in [0, 1]) counts as ``c`` of a verdict: the
weight is multiplied by ``(1 ± step)^c`` — so three verdicts at 1/3 move it exactly as one
verdict at 1 — and the threshold step is ``c·η``. ``c = 0`` changes nothing.

>>> w = DetectorWeights(step=0.5, lo=0.5, hi=2.0)
>>> w.update("ueba", "false_positive"), w.update("ueba", "false_positive")
(0.5, 0.5)
>>> t = Thresholds({"ueba": (0.5, 0.3, 0.9)}, eta=0.5)
>>> t.update("ueba", 0.8, "false_positive")
0.65
>>> round(DetectorWeights(step=0.5).update("ueba", "false_positive", weight=0.5), 4)
0.7071
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mirrorguard.errors import ConfigError


def _check(weight: float) -> None:
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"a verdict counts as at most one verdict: weight {weight} not in [0, 1]")


@dataclass
class DetectorWeights:
    step: float = 0.05
    lo: float = 0.25
    hi: float = 2.0
    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (0 < self.step < 1 and 0 < self.lo <= 1 <= self.hi):
            raise ConfigError("weights need 0 < step < 1 and 0 < lo <= 1 <= hi")

    def update(self, detector: str, label: str, weight: float = 1.0) -> float:
        _check(weight)
        w = self.weights.get(detector, 1.0)
        if label == "true_positive":
            w *= (1 + self.step) ** weight
        elif label == "false_positive":
            w *= (1 - self.step) ** weight
        w = min(self.hi, max(self.lo, w))
        self.weights[detector] = w
        return w

    def get(self, detector: str) -> float:
        return self.weights.get(detector, 1.0)


@dataclass
class Thresholds:
    """``values`` maps detector → (threshold, lower bound, upper bound)."""

    values: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    eta: float = 0.1

    def update(self, detector: str, score: float, label: str,
               weight: float = 1.0) -> float | None:
        _check(weight)
        if detector not in self.values:
            return None
        theta, lo, hi = self.values[detector]
        eta = self.eta * weight
        if label == "false_positive" and score >= theta:
            theta += eta * (score - theta)
        elif label == "true_positive" and score < theta:
            theta -= eta * (theta - score)
        theta = min(hi, max(lo, theta))
        self.values[detector] = (theta, lo, hi)
        return theta
