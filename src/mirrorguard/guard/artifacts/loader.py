"""One entry point for loading any model type the project saves, after full verification.

The model kind comes from the signed manifest and selects a loader from a fixed table in this
module; detector classes come from the registry the caller passes. No name from a file is ever
imported or looked up in ``globals()``.

>>> sorted(LOADERS)
['detector', 'isolation_forest', 'lightgbm']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb

from mirrorguard.detect.base import Detector
from mirrorguard.errors import FormatError
from mirrorguard.guard.artifacts.detector_io import DetectorClasses, detector_from_verified
from mirrorguard.guard.artifacts.iforest import IsolationForestArrays, iforest_from_verified
from mirrorguard.guard.artifacts.lightgbm_io import lightgbm_from_verified
from mirrorguard.guard.artifacts.seal import Trusted, VerifiedModel, open_model_dir

LoadedModel = Detector | lgb.Booster | IsolationForestArrays


def _detector(vm: VerifiedModel, classes: DetectorClasses | None) -> LoadedModel:
    if classes is None:
        raise FormatError("loading a detector needs the detector class registry",
                          file=str(vm.directory))
    return detector_from_verified(vm, classes)


LOADERS: dict[str, Callable[[VerifiedModel, DetectorClasses | None], LoadedModel]] = {
    "detector": _detector,
    "lightgbm": lambda vm, _classes: lightgbm_from_verified(vm),
    "isolation_forest": lambda vm, _classes: iforest_from_verified(vm),
}


def model_from_verified(vm: VerifiedModel, classes: DetectorClasses | None = None) -> LoadedModel:
    """Deserialise a verified model with the loader for its (signed) kind."""
    loader = LOADERS.get(vm.manifest.kind)
    if loader is None:  # unreachable for parsed manifests; kept as a closed door
        raise FormatError(f"no loader for model kind {vm.manifest.kind!r}")
    return loader(vm, classes)


def load_model(path: Path, trusted: Trusted, classes: DetectorClasses | None = None
               ) -> LoadedModel:
    """Verify signature, manifest and every file of ``path``, then load the model."""
    return model_from_verified(open_model_dir(Path(path), trusted), classes)
