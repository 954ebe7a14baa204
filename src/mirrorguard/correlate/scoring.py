"""Incident risk: kill-chain progression, source diversity and the alerts' own scores.

For the alerts of one incident:

* **evidence** ``E = log(1 + Σ w_d · s)`` over distinct alert fingerprints (a repeat of the
  same alert adds nothing), with ``s`` the alert score clipped to [0, 1] and ``w_d`` the
  detector's weight (1 unless the analyst loop moved it, see :mod:`mirrorguard.learn.weights`);
* **progression** ``C`` — the length of the longest chain of alerts, in time order, whose
  ATT&CK tactics strictly advance through the kill chain (initial access → execution → … →
  exfiltration). An alert tagged with a technique of several tactics may take any of them.
  This is a longest-increasing-subsequence over tactic positions (dynamic programming over
  14 tactics, O(alerts · 14));
* **diversity** ``D`` — the number of distinct detectors (independent sources agreeing).

``risk = 100 · (1 − exp(−(E + 0.75·max(C−1, 0) + 0.5·max(D−1, 0)) / 3))``, in [0, 100).
A single alert of score 1 gives 21; four tactics in order from three detectors give > 80.
Kill-chain weighting after the multi-stage scoring of Milajerdi et al., *HOLMES*, S&P 2019
(attack stages must appear in order on causally linked entities).

>>> import math
>>> round(risk_score(evidence=math.log(2), chain=1, detectors=1), 1)
20.6
>>> longest_chain([(0, (2,)), (1, (3,)), (2, (7,)), (3, (3,)), (4, (12,))])
4
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

N_TACTICS = 14


def longest_chain(alerts: Iterable[tuple[object, tuple[int, ...]]]) -> int:
    """Longest strictly advancing tactic chain over ``(time, stages)`` pairs (any order)."""
    best = [0] * N_TACTICS  # best[t] = longest chain ending at tactic t
    for _, stages in sorted(alerts, key=lambda a: a[0]):  # type: ignore[arg-type,return-value]
        updates = {}
        for t in stages:
            if 0 <= t < N_TACTICS:
                updates[t] = 1 + max(best[:t], default=0)
        for t, v in updates.items():
            best[t] = max(best[t], v)
    return max(best)


def evidence(scores: Sequence[float], detectors: Sequence[str],
             weights: Mapping[str, float] | None = None) -> float:
    """``log(1 + Σ w_d · clip(s, 0, 1))`` over the given (already de-duplicated) alerts."""
    w = weights or {}
    total = sum(w.get(d, 1.0) * min(max(s, 0.0), 1.0) for s, d in zip(scores, detectors,
                                                                      strict=True))
    return math.log1p(total)


def risk_score(evidence: float, chain: int, detectors: int) -> float:
    """Combine the three parts into a 0–100 risk (see the module docstring)."""
    raw = evidence + 0.75 * max(chain - 1, 0) + 0.5 * max(detectors - 1, 0)
    return 100.0 * (1.0 - math.exp(-raw / 3.0))
