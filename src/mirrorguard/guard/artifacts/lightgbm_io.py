"""LightGBM models in LightGBM's own text format, signed.

Saved with ``Booster.model_to_string()`` (a plain-text tree dump) and loaded with
``lightgbm.Booster(model_str=...)`` only after the signature and digest were verified. Accepts a
``lightgbm.Booster`` or a fitted scikit-learn wrapper (``LGBMClassifier`` …, via ``booster_``).

>>> import tempfile
>>> import lightgbm as lgb, numpy as np
>>> from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
>>> booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4},
...                     lgb.Dataset(X, y), num_boost_round=5)
>>> priv, pub = generate_keypair()
>>> d = Path(tempfile.mkdtemp()) / "gbm"
>>> _ = save_lightgbm(booster, d, Signer(priv), name="toy")
>>> bool((load_lightgbm(d, Verifier(pub)).predict(X) == booster.predict(X)).all())
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb

from mirrorguard.errors import FormatError, IntegrityError, UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import check_json_value
from mirrorguard.guard.artifacts.manifest import Lineage, ModelManifest
from mirrorguard.guard.artifacts.seal import Trusted, VerifiedModel, open_model_dir, seal_model_dir
from mirrorguard.guard.keys import Signer

MODEL_FILE = "model.txt"
ROLE_TEXT = "lightgbm-text"


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as plain JSON: values that are not JSON become their ``repr`` text."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        try:
            check_json_value(value)
            out[str(key)] = value
        except IntegrityError:
            out[str(key)] = repr(value)
    return out


def _as_booster(model: Any) -> lgb.Booster:
    if isinstance(model, lgb.Booster):
        return model
    booster = getattr(model, "booster_", None)
    if isinstance(booster, lgb.Booster):
        return booster
    raise FormatError(f"{type(model).__name__} is neither a lightgbm.Booster nor a fitted "
                      "LightGBM scikit-learn model")


def save_lightgbm(
    model: Any, path: Path, signer: Signer, lineage: Lineage | None = None, *, name: str,
    metrics: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> ModelManifest:
    """Save a LightGBM model as signed native text; returns the manifest written."""
    booster = _as_booster(model)
    text = booster.model_to_string()
    recorded = json_params(params if params is not None else dict(booster.params or {}))
    recorded.setdefault("num_trees", booster.num_trees())
    recorded.setdefault("num_features", booster.num_feature())
    return seal_model_dir(
        Path(path), {MODEL_FILE: (ROLE_TEXT, text.encode("utf-8"))}, name=name,
        kind="lightgbm", detector=None, params=recorded, signer=signer, lineage=lineage,
        metrics=metrics, overwrite=overwrite,
    )


def booster_from_text(text: str, where: str) -> lgb.Booster:
    """Parse LightGBM's text model format (called only on verified bytes)."""
    try:
        return lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        raise UnsafeArtifactError(f"LightGBM could not parse the model: {exc}", file=where) from exc


def lightgbm_from_verified(vm: VerifiedModel) -> lgb.Booster:
    """Rebuild the booster from a verified model directory."""
    if vm.manifest.kind != "lightgbm":
        raise FormatError(f"model {vm.manifest.model_id} is a {vm.manifest.kind}, not LightGBM",
                          file=str(vm.directory))
    fname, data = vm.payload_by_role(ROLE_TEXT)
    where = str(vm.directory / fname)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeArtifactError("LightGBM model text is not UTF-8", file=where) from exc
    return booster_from_text(text, where)


def load_lightgbm(path: Path, trusted: Trusted) -> lgb.Booster:
    """Verify the signature and every file, then parse the LightGBM text model."""
    return lightgbm_from_verified(open_model_dir(Path(path), trusted))
