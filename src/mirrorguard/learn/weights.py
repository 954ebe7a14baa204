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

>>> w = DetectorWeights(step=0.5, lo=0.5, hi=2.0)
>>> w.update("ueba", "false_positive"), w.update("ueba", "false_positive")
(0.5, 0.5)
>>> t = Thresholds({"ueba": (0.5, 0.3, 0.9)}, eta=0.5)
>>> t.update("ueba", 0.8, "false_positive")
0.65
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mirrorguard.errors import ConfigError


@dataclass
class DetectorWeights:
    step: float = 0.05
    lo: float = 0.25
    hi: float = 2.0
    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (0 < self.step < 1 and 0 < self.lo <= 1 <= self.hi):
            raise ConfigError("weights need 0 < step < 1 and 0 < lo <= 1 <= hi")

    def update(self, detector: str, label: str) -> float:
        w = self.weights.get(detector, 1.0)
        if label == "true_positive":
            w *= 1 + self.step
        elif label == "false_positive":
            w *= 1 - self.step
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

    def update(self, detector: str, score: float, label: str) -> float | None:
        if detector not in self.values:
            return None
        theta, lo, hi = self.values[detector]
        if label == "false_positive" and score >= theta:
            theta += self.eta * (score - theta)
        elif label == "true_positive" and score < theta:
            theta -= self.eta * (theta - score)
        theta = min(hi, max(lo, theta))
        self.values[detector] = (theta, lo, hi)
        return theta
