"""The analyst loop: verdicts, weights and thresholds, retraining, active learning."""

from mirrorguard.learn.active import STRATEGIES, select
from mirrorguard.learn.loop import AnalystLoop, VerdictOutcome, context_for
from mirrorguard.learn.retrain import DataScreen, RetrainItem, RetrainQueue
from mirrorguard.learn.verdicts import (
    AcceptAll,
    FeedbackScreen,
    ScreenDecision,
    Verdict,
    VerdictContext,
    VerdictStore,
)
from mirrorguard.learn.weights import DetectorWeights, Thresholds

__all__ = ["STRATEGIES", "AcceptAll", "AnalystLoop", "DataScreen", "DetectorWeights",
           "FeedbackScreen", "RetrainItem", "RetrainQueue", "ScreenDecision", "Thresholds",
           "Verdict", "VerdictContext", "VerdictOutcome", "VerdictStore", "context_for",
           "select"]
