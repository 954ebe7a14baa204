"""The explicit table of saveable detectors: name -> class, never looked up from data.

A saved detector is ``(name, params, meta, arrays)``; :func:`rebuild` picks the class from this
fixed table (no ``globals()``, no import paths from files) and calls its ``from_state``.

>>> sorted(detector_names())[:3]
['flow_ensemble', 'gbdt', 'hybrid']
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
