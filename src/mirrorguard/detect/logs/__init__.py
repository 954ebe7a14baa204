"""Log-session anomaly detectors (inputs: session frames from ``features.sessions``)."""

from mirrorguard.detect.logs.counts import CountIsolationForest, PCAResidual
from mirrorguard.detect.logs.ngram import NgramNovelty
from mirrorguard.detect.logs.rare import NewParameterValue, RareTemplate
from mirrorguard.detect.logs.sequence import NextTemplateModel

__all__ = [
    "CountIsolationForest",
    "NewParameterValue",
    "NextTemplateModel",
    "NgramNovelty",
    "PCAResidual",
    "RareTemplate",
]
