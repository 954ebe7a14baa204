"""Saving and loading mirrorguard detectors: JSON metadata + NumPy arrays, never pickle.

A detector is saved from :meth:`Detector.get_params` (into the manifest),
its training-screen report (``training_screen.json``, when the fit was screened) and
:meth:`Detector.get_state` (``state.json`` for the metadata and the array specs,
``arrays.npz`` for the arrays, written by NumPy and read back with ``allow_pickle=False``).
Object-dtype arrays are refused at save time. Loading rebuilds the detector through an explicit
class registry the caller passes (name -> class), never from a name looked up dynamically.

>>> import tempfile
>>> import numpy as np, polars as pl
>>> from mirrorguard.detect.base import Detector
>>> from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
>>> class Mean(Detector):
...     name = "mean"
...     def __init__(self, scale: float = 1.0) -> None:
...         self.scale = scale
...     def fit(self, X, y=None):
...         self.mean_ = X.to_numpy().mean(axis=0)
...         return self
...     def score(self, X):
...         return self.scale * np.abs(X.to_numpy() - self.mean_).sum(axis=1)
...     def get_state(self):
...         return {}, {"mean": self.mean_}
...     @classmethod
...     def from_state(cls, params, meta, arrays):
...         det = cls(**params)
...         det.mean_ = arrays["mean"]
...         return det
>>> priv, pub = generate_keypair()
>>> d = Path(tempfile.mkdtemp()) / "mean"
>>> X = pl.DataFrame({"a": [1.0, 3.0]})
>>> _ = save_detector(Mean(2.0).fit(X), d, Signer(priv))
>>> load_detector(d, Verifier(pub), {"mean": Mean}).score(X).tolist()
[2.0, 2.0]
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mirrorguard.detect.base import Detector
from mirrorguard.errors import FormatError, IntegrityError, UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import canonical_json, check_json_value, finite_json
from mirrorguard.guard.artifacts.manifest import Lineage, ModelManifest
from mirrorguard.guard.artifacts.seal import Trusted, VerifiedModel, open_model_dir, seal_model_dir
from mirrorguard.guard.keys import Signer

STATE_FILE = "state.json"
ARRAYS_FILE = "arrays.npz"
ROLE_STATE = "detector-state"
ROLE_ARRAYS = "detector-arrays"
#: what the training-data screen found when the detector was fitted (provenance, signed too)
SCREEN_FILE = "training_screen.json"
ROLE_SCREEN = "training-screen"
_ARRAY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")

_NP_RESERVED = frozenset({"file", "allow_pickle", "args", "kwds"})

DetectorClasses = Mapping[str, type[Detector]]


def check_arrays(arrays: Mapping[str, Any], where: str = "state") -> dict[str, np.ndarray]:
    """Arrays must be NumPy arrays with plain names and no object (pickled) dtype."""
    checked: dict[str, np.ndarray] = {}
    for key, arr in arrays.items():
        if not isinstance(key, str) or not _ARRAY_NAME.match(key) or key in _NP_RESERVED:
            raise FormatError(f"array name {key!r} is not a plain identifier", file=where)
        if not isinstance(arr, np.ndarray):
            raise FormatError(f"array {key!r} is {type(arr).__name__}, not numpy.ndarray",
                              file=where)
        if arr.dtype.hasobject:
            raise FormatError(f"array {key!r} has object dtype, which would need pickle",
                              file=where)
        checked[key] = arr
    return checked


def array_specs(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """dtype and shape of each array, as JSON (recorded next to the arrays and re-checked)."""
    return {k: {"dtype": a.dtype.str, "shape": list(a.shape)} for k, a in sorted(arrays.items())}


def arrays_to_npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Serialise arrays to ``.npz`` bytes (NumPy's format, no pickle allowed on read)."""
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **dict(arrays))
    return buf.getvalue()


def read_npz(data: bytes, where: str) -> dict[str, np.ndarray]:
    """Read ``.npz`` bytes with ``allow_pickle=False`` (object arrays raise)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise UnsafeArtifactError(f"arrays could not be read safely: {exc}", file=where) from exc


def read_json(data: bytes, where: str) -> Any:
    """Parse a JSON payload (after its digest was verified)."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeArtifactError(f"not valid JSON: {exc}", file=where) from exc


def check_specs(arrays: Mapping[str, np.ndarray], specs: Any, where: str) -> None:
    """The arrays read back must be exactly the ones declared (names, dtypes, shapes)."""
    if array_specs(arrays) != specs:
        raise UnsafeArtifactError("arrays do not match their declared names/dtypes/shapes",
                                  file=where)


def save_detector(
    det: Detector, path: Path, signer: Signer, lineage: Lineage | None = None, *,
    name: str | None = None, metrics: dict[str, Any] | None = None, overwrite: bool = False,
) -> ModelManifest:
    """Save a fitted detector as signed JSON + arrays; returns the manifest written."""
    if not det.is_fitted():
        raise FormatError(f"detector {det.name!r} is not fitted")
    params = det.get_params()
    try:
        meta, arrays = det.get_state()
        check_json_value(params, "params")
        check_json_value(meta, "state")
    except (NotImplementedError, IntegrityError) as exc:
        raise FormatError(f"detector {det.name!r} cannot be saved: {exc}") from exc
    arrays = check_arrays(arrays)
    state = canonical_json({"meta": meta, "arrays": array_specs(arrays)})
    payloads = {
        STATE_FILE: (ROLE_STATE, state),
        ARRAYS_FILE: (ROLE_ARRAYS, arrays_to_npz(arrays)),
    }
    screen = getattr(det, "screen_report_", None)
    if screen is not None:
        screen = finite_json(screen)
        try:
            check_json_value(screen, "training screen report")
        except IntegrityError as exc:
            raise FormatError(f"detector {det.name!r}: screen report is not JSON: {exc}") from exc
        payloads[SCREEN_FILE] = (ROLE_SCREEN, canonical_json(screen))
    return seal_model_dir(
        Path(path), payloads, name=name or det.name, kind="detector", detector=det.name,
        params=params, signer=signer, lineage=lineage, metrics=metrics, overwrite=overwrite,
    )


def detector_from_verified(vm: VerifiedModel, classes: DetectorClasses) -> Detector:
    """Rebuild a detector from a verified model directory via the explicit class registry."""
    manifest = vm.manifest
    where = str(vm.directory)
    if manifest.kind != "detector" or manifest.detector is None:
        raise FormatError(f"model {manifest.model_id} is a {manifest.kind}, not a detector",
                          file=where)
    cls = classes.get(manifest.detector)
    if cls is None:
        raise FormatError(
            f"detector {manifest.detector!r} is not in the class registry "
            f"(known: {', '.join(sorted(classes)) or 'none'})", file=where,
        )
    state = read_json(vm.payload(STATE_FILE), f"{where}/{STATE_FILE}")
    if not isinstance(state, dict) or set(state) != {"meta", "arrays"}:
        raise UnsafeArtifactError("state.json must hold 'meta' and 'arrays'", file=where)
    arrays = read_npz(vm.payload(ARRAYS_FILE), f"{where}/{ARRAYS_FILE}")
    check_specs(arrays, state["arrays"], f"{where}/{ARRAYS_FILE}")
    det = cls.from_state(dict(manifest.params), state["meta"], arrays)
    if not isinstance(det, cls):
        raise FormatError(f"{cls.__name__}.from_state returned {type(det).__name__}", file=where)
    if SCREEN_FILE in vm.payloads:  # verified with the rest; older models have none
        screen = read_json(vm.payload(SCREEN_FILE), f"{where}/{SCREEN_FILE}")
        if not isinstance(screen, dict):
            raise UnsafeArtifactError("the training screen report must be an object",
                                      file=f"{where}/{SCREEN_FILE}")
        det.screen_report_ = screen
    return det


def load_detector(path: Path, trusted: Trusted, classes: DetectorClasses) -> Detector:
    """Verify the signature and every file, then rebuild the detector (nothing unpickled)."""
    return detector_from_verified(open_model_dir(Path(path), trusted), classes)
