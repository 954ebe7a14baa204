"""Tampering with any byte of any saved model is refused before anything is deserialised.

For every model type the project saves (detector JSON+npz, LightGBM text, IsolationForest
arrays), every file of the model directory is flipped at several offsets; loading must raise
:class:`UnsafeArtifactError` naming the file, and no deserialiser (``numpy.load``,
``lightgbm.Booster``, JSON payload parsing, ``Detector.from_state``, pickle) may run.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from mirrorguard.detect.base import Detector
from mirrorguard.errors import UnsafeArtifactError
from mirrorguard.guard.artifacts import detector_io, iforest, lightgbm_io
from mirrorguard.guard.artifacts.loader import load_model
from mirrorguard.guard.keys import Signer, Verifier

FILES = {
    "detector": ["manifest.json", "manifest.sig", "state.json", "arrays.npz"],
    "lightgbm": ["manifest.json", "manifest.sig", "model.txt"],
    "isolation_forest": ["manifest.json", "manifest.sig", "forest.json", "forest.npz"],
}
CASES = [(kind, name) for kind, names in FILES.items() for name in names]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, detector_cls: type[Detector]) -> list[str]:
    """Replace every deserialiser with a spy that records the call and refuses."""
    seen: list[str] = []

    def spy(label: str) -> Callable[..., Any]:
        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            seen.append(label)
            raise AssertionError(f"{label} was called on a tampered model")
        return refuse

    targets = [
        (np, "load"), (lgb, "Booster"), (pickle, "load"), (pickle, "loads"),
        (detector_io, "read_npz"), (detector_io, "read_json"),
        (iforest, "read_npz"), (iforest, "read_json"),
        (lightgbm_io, "booster_from_text"),
    ]
    for module, attr in targets:
        monkeypatch.setattr(module, attr, spy(f"{module.__name__}.{attr}"))
    monkeypatch.setattr(detector_cls, "from_state", classmethod(spy("RobustZ.from_state")))
    return seen


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def _offsets(size: int) -> list[int]:
    rng = np.random.default_rng(size)
    picks = {0, 1, size // 3, size // 2, (2 * size) // 3, size - 2, size - 1}
    picks.update(int(i) for i in rng.integers(0, size, 3))
    return sorted(p for p in picks if 0 <= p < size)


@pytest.mark.parametrize(("kind", "fname"), CASES)
def test_byte_flip_anywhere_is_refused_before_deserialisation(
    kind: str, fname: str, saved_models: dict[str, tuple[Path, Any]],
    keys: tuple[Signer, Verifier], tmp_path: Path, calls: list[str],
    classes: dict[str, type[Detector]],
) -> None:
    pristine = saved_models[kind][0]
    size = (pristine / fname).stat().st_size
    offsets = _offsets(size)
    assert len(offsets) >= 5
    for i, offset in enumerate(offsets):
        model_dir = _copy(pristine, tmp_path / f"{i}")
        data = bytearray((model_dir / fname).read_bytes())
        data[offset] ^= 0x01 if i % 2 else 0xFF
        (model_dir / fname).write_bytes(bytes(data))
        with pytest.raises(UnsafeArtifactError) as err:
            load_model(model_dir, keys[1], classes)
        assert fname in str(err.value), f"offset {offset}: {err.value}"
    assert calls == []


@pytest.mark.parametrize("kind", list(FILES))
def test_truncated_or_appended_file_is_refused(
    kind: str, saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    tmp_path: Path, calls: list[str],
    classes: dict[str, type[Detector]],
) -> None:
    for i, fname in enumerate(FILES[kind]):
        changes: list[Callable[[bytes], bytes]] = [
            lambda b: b[:-1], lambda b: b + b"\n", lambda _b: b""]
        for j, change in enumerate(changes):
            model_dir = _copy(saved_models[kind][0], tmp_path / f"{i}-{j}")
            (model_dir / fname).write_bytes(change((model_dir / fname).read_bytes()))
            with pytest.raises(UnsafeArtifactError, match=r"manifest|size|sha256|JSON"):
                load_model(model_dir, keys[1], classes)
    assert calls == []


@pytest.mark.parametrize("kind", list(FILES))
def test_edited_manifest_is_refused(
    kind: str, saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    tmp_path: Path, calls: list[str],
    classes: dict[str, type[Detector]],
) -> None:
    model_dir = _copy(saved_models[kind][0], tmp_path)
    manifest = json.loads((model_dir / "manifest.json").read_bytes())
    manifest["metrics"]["auc"] = 0.999  # a plausible, well-formed edit
    (model_dir / "manifest.json").write_text(json.dumps(manifest, sort_keys=True,
                                                        separators=(",", ":")))
    with pytest.raises(UnsafeArtifactError, match=r"manifest.json does not match the digest recorded in manifest.sig"):
        load_model(model_dir, keys[1], classes)
    assert calls == []


@pytest.mark.parametrize("kind", list(FILES))
def test_deleted_and_extra_files_are_named(
    kind: str, saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    tmp_path: Path, calls: list[str],
    classes: dict[str, type[Detector]],
) -> None:
    payload = FILES[kind][2]
    missing = _copy(saved_models[kind][0], tmp_path / "missing")
    (missing / payload).unlink()
    with pytest.raises(UnsafeArtifactError, match=f"missing: {payload}"):
        load_model(missing, keys[1], classes)
    extra = _copy(saved_models[kind][0], tmp_path / "extra")
    (extra / "evil.pkl").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(UnsafeArtifactError, match=r"extra file.*evil.pkl"):
        load_model(extra, keys[1], classes)
    assert calls == []


@pytest.mark.parametrize("kind", list(FILES))
def test_unsigned_and_wrong_key_are_refused(
    kind: str, saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    other_keys: tuple[Signer, Verifier], tmp_path: Path, calls: list[str],
    classes: dict[str, type[Detector]],
) -> None:
    unsigned = _copy(saved_models[kind][0], tmp_path / "unsigned")
    (unsigned / "manifest.sig").unlink()
    with pytest.raises(UnsafeArtifactError, match="unsigned model"):
        load_model(unsigned, keys[1], classes)
    with pytest.raises(UnsafeArtifactError, match="not trusted"):
        load_model(saved_models[kind][0], other_keys[1], classes)
    assert calls == []


@pytest.fixture(scope="module")
def attacker_model(tmp_path_factory: pytest.TempPathFactory,
                   other_keys: tuple[Signer, Verifier],
                   builders: dict[str, Callable[[Path, Signer], Any]]) -> Path:
    path = tmp_path_factory.mktemp("attacker") / "gbm"
    builders["lightgbm"](path, other_keys[0])
    return path


def test_model_resigned_with_an_untrusted_key_is_refused(
    attacker_model: Path, keys: tuple[Signer, Verifier], calls: list[str],
    classes: dict[str, type[Detector]],
) -> None:
    """An attacker re-saving a (malicious) model with their own key gets nowhere."""
    with pytest.raises(UnsafeArtifactError, match="not trusted"):
        load_model(attacker_model, keys[1], classes)
    assert calls == []


def test_swapped_signature_from_another_model_is_refused(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier], tmp_path: Path,
    calls: list[str],
    classes: dict[str, type[Detector]],
) -> None:
    model_dir = _copy(saved_models["detector"][0], tmp_path)
    shutil.copy(saved_models["lightgbm"][0] / "manifest.sig", model_dir / "manifest.sig")
    with pytest.raises(UnsafeArtifactError, match=r"manifest.json does not match the digest"):
        load_model(model_dir, keys[1], classes)
    assert calls == []


def test_symlinked_payload_is_refused(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier], tmp_path: Path,
    calls: list[str],
    classes: dict[str, type[Detector]],
) -> None:
    model_dir = _copy(saved_models["lightgbm"][0], tmp_path / "m")
    real = tmp_path / "elsewhere.txt"
    shutil.move(model_dir / "model.txt", real)
    (model_dir / "model.txt").symlink_to(real)
    with pytest.raises(UnsafeArtifactError, match="symbolic link"):
        load_model(model_dir, keys[1], classes)
    assert calls == []


def test_pristine_models_load_without_pickle(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    monkeypatch: pytest.MonkeyPatch,
    classes: dict[str, type[Detector]],
) -> None:
    def no_pickle(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    for kind, (path, _model) in saved_models.items():
        loaded = load_model(path, keys[1], classes)
        assert loaded is not None, kind
