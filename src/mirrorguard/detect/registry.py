"""The explicit table of saveable detectors: name -> class, never looked up from data.

A saved detector is ``(name, params, meta, arrays)``; :func:`rebuild` picks the class from this
fixed table (no ``globals()``, no import paths from files) and calls its ``from_state``.

>>> {"flow_ensemble", "beacon", "auth_bruteforce"} <= set(detector_names())
True
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from mirrorguard.detect.base import Detector
from mirrorguard.errors import MirrorguardError

_DETECTORS: dict[str, tuple[str, str]] = {
    "flow_ensemble": ("mirrorguard.detect.ensemble", "FlowAnomalyEnsemble"),
    "gbdt": ("mirrorguard.detect.supervised", "GradientBoostedDetector"),
    "hybrid": ("mirrorguard.detect.hybrid", "HybridDetector"),
    "streaming_hbos": ("mirrorguard.detect.streaming", "StreamingHistogram"),
    "beacon": ("mirrorguard.detect.beacon", "BeaconDetector"),
    "sigma": ("mirrorguard.detect.sigma.detector", "SigmaDetector"),
    "ueba": ("mirrorguard.detect.ueba", "UebaDetector"),
    "ueba_guarded": ("mirrorguard.guard.data.ueba_guard", "GuardedUeba"),
    "streaming_hbos_guarded": ("mirrorguard.guard.data.stream_guard",
                               "GuardedStreamingHistogram"),
    "auth_bruteforce": ("mirrorguard.detect.auth", "BruteForce"),
    "auth_password_spray": ("mirrorguard.detect.auth", "PasswordSpray"),
    "auth_success_after_failures": ("mirrorguard.detect.auth", "SuccessAfterFailures"),
    "auth_sudo_su_abuse": ("mirrorguard.detect.auth", "SudoSuAbuse"),
    "auth_new_source": ("mirrorguard.detect.auth_newsource", "NewSourceForUser"),
    "web_attack": ("mirrorguard.detect.web", "WebAttack"),
    "log.pca_residual": ("mirrorguard.detect.logs.counts", "PCAResidual"),
    "log.count_iforest": ("mirrorguard.detect.logs.counts", "CountIsolationForest"),
    "log.ngram_novelty": ("mirrorguard.detect.logs.ngram", "NgramNovelty"),
    "log.next_template": ("mirrorguard.detect.logs.sequence", "NextTemplateModel"),
    "log.rare_template": ("mirrorguard.detect.logs.rare", "RareTemplate"),
    "log.new_parameter_value": ("mirrorguard.detect.logs.rare", "NewParameterValue"),
}


def detector_names() -> list[str]:
    """Registered detector names."""
    return sorted(_DETECTORS)


def detector_class(name: str) -> type[Detector]:
    """The class registered under ``name``."""
    if name not in _DETECTORS:
        raise MirrorguardError(f"unknown detector {name!r}; known: {', '.join(detector_names())}")
    module, attr = _DETECTORS[name]
    cls: type[Detector] = getattr(importlib.import_module(module), attr)
    return cls


def rebuild(
    name: str, params: dict[str, Any], meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Detector:
    """A fitted detector from its saved parts (see ``Detector.get_state``)."""
    return detector_class(name).from_state(params, meta, arrays)
