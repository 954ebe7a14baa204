"""The guard for what the watch learns from: training data, baseline updates and feedback.

Three entry points, each usable alone:

* **Training data** — ``screen_training_data(X, y, policy, reference=..., test=...,
  target_label=...) -> ScreenResult``. Every ``fit`` calls it; ``policy`` is ``"block"``
  (raise :class:`PoisoningBlocked` carrying the report), ``"quarantine"`` (fit on
  ``result.X`` / ``result.y``, the flagged rows removed) or ``"warn"``. Findings (label flips,
  backdoor patterns, duplicates, leakage, shift) are data with a severity in
  ``result.report``. CLI: ``mirrorguard guard data TRAIN --label COL [--reference REF]``.
  Every detector ``fit`` runs it through :mod:`.fit_screen` (labelled data; cheap flood,
  infinity and shift checks for unlabelled data) under the policy set with
  ``training_screen(FitScreenPolicy(...) | "quarantine" | "block" | "warn" | "off")``.
* **Baselines** — :class:`GuardedUeba` (UEBA behind a drift budget),
  :class:`GuardedStreamingHistogram` (the streaming anomaly detector likewise) and, for any numeric
  baseline, :class:`DriftBudget` / :class:`GuardedBaseline` with a signed :class:`Anchor`.
* **Feedback** — ``FeedbackGuard().review(FeedbackVerdict(...)) -> Decision`` for each analyst
  verdict; learn only from ``Decision.weight`` (0 for held or rejected verdicts); high-impact
  relabels and suppressions come back ``HOLD`` with a ``request_id`` for
  ``FeedbackGuard.approve(request_id, approver, time)``.
"""

from mirrorguard.guard.data.drift import (
    Anchor,
    BudgetConfig,
    DriftBudget,
    GuardedBaseline,
    SignedAnchor,
)
from mirrorguard.guard.data.feedback import (
    Action,
    Decision,
    FeedbackConfig,
    FeedbackGuard,
    FeedbackVerdict,
)
from mirrorguard.guard.data.findings import Finding, PoisoningBlocked, Policy, ScreenReport
from mirrorguard.guard.data.fit_policy import FitScreenPolicy, active_policy, training_screen
from mirrorguard.guard.data.fit_screen import FitScreenReport, screen_for_fit
from mirrorguard.guard.data.screen import ScreenConfig, ScreenResult, screen_training_data
from mirrorguard.guard.data.stream_guard import GuardedStreamingHistogram
from mirrorguard.guard.data.ueba_guard import GuardedUeba

__all__ = [
    "Action",
    "Anchor",
    "BudgetConfig",
    "Decision",
    "DriftBudget",
    "FeedbackConfig",
    "FeedbackGuard",
    "FeedbackVerdict",
    "Finding",
    "FitScreenPolicy",
    "FitScreenReport",
    "GuardedBaseline",
    "GuardedStreamingHistogram",
    "GuardedUeba",
    "PoisoningBlocked",
    "Policy",
    "ScreenConfig",
    "ScreenReport",
    "ScreenResult",
    "SignedAnchor",
    "active_policy",
    "screen_for_fit",
    "screen_training_data",
    "training_screen",
]
