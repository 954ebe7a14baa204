"""The analyst loop: verdicts, the feedback guard, weights and thresholds, retraining, active
learning."""

from mirrorguard.learn.active import STRATEGIES, select
from mirrorguard.learn.guarded import GuardedFeedbackScreen, feedback_verdict
from mirrorguard.learn.loop import AnalystLoop, VerdictOutcome, context_for
from mirrorguard.learn.retrain import DataScreen, RetrainItem, RetrainQueue
from mirrorguard.learn.verdicts import (
    AcceptAll,
    ApprovalScreen,
    FeedbackScreen,
    ScreenDecision,
    Verdict,
    VerdictContext,
    VerdictStore,
)
from mirrorguard.learn.weights import DetectorWeights, Thresholds

__all__ = ["STRATEGIES", "AcceptAll", "AnalystLoop", "ApprovalScreen", "DataScreen",
           "DetectorWeights", "FeedbackScreen", "GuardedFeedbackScreen", "RetrainItem",
           "RetrainQueue", "ScreenDecision", "Thresholds", "Verdict", "VerdictContext",
           "VerdictOutcome", "VerdictStore", "context_for", "feedback_verdict", "select"]
