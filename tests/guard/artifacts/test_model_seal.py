"""Manifests, canonical JSON, signature envelopes and data fingerprints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from mirrorguard.errors import IntegrityError, UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import (
    canonical_json,
    fingerprint_arrays,
    fingerprint_files,
    fingerprint_frame,
)
from mirrorguard.guard.artifacts.manifest import (
    CodeVersion,
    FileEntry,
    Lineage,
    ModelManifest,
)
from mirrorguard.guard.artifacts.seal import (
    _envelope_bytes,
    current_code_version,
    open_model_dir,
    seal_model_dir,
)
from mirrorguard.guard.keys import Signer, Verifier


def _manifest(**over: Any) -> ModelManifest:
    args: dict[str, Any] = {
        "name": "m", "kind": "lightgbm", "detector": None, "params": {"a": 1},
        "files": (FileEntry("model.txt", "0" * 64, 4, "lightgbm-text"),), "lineage": Lineage(),
        "code": CodeVersion("0.1.0", None), "metrics": {}, "signer_key_id": "k" * 64,
        "created_at": "2025-01-01T00:00:00+00:00"}
    args.update(over)
    return ModelManifest.build(**args)


def test_canonical_json_is_stable_and_strict() -> None:
    assert canonical_json({"b": [1, 2.5], "a": "é"}) == b'{"a":"\\u00e9","b":[1,2.5]}'
    for bad in ({"x": float("inf")}, {1: "int key"}, {"x": {1, 2}}, {"x": np.int64(1)}):
        with pytest.raises(IntegrityError):
            canonical_json(bad)


def test_manifest_parse_is_strict() -> None:
    m = _manifest()
    good = m.to_json()
    assert ModelManifest.from_json(good) == m
    cases = [
        ({**good, "extra": 1}, "unexpected fields"),
        ({k: v for k, v in good.items() if k != "metrics"}, "missing fields"),
        ({**good, "kind": "pickle"}, "unknown model kind"),
        ({**good, "schema_version": 99}, "schema_version"),
        ({**good, "name": "renamed"}, "model_id does not match"),
        ({**good, "files": [{**good["files"][0], "path": "../../etc/passwd"}]}, "unsafe"),
        ({**good, "files": [{**good["files"][0], "path": "manifest.sig"}]}, "reserved"),
        ({**good, "files": [{**good["files"][0], "sha256": "xyz"}]}, "not sha256"),
        ({**good, "files": [{**good["files"][0], "size": True}]}, "wrong type"),
        ({**good, "files": good["files"] * 2}, "twice"),
    ]
    for data, message in cases:
        with pytest.raises(UnsafeArtifactError, match=message):
            ModelManifest.from_json(data)


def test_signed_manifest_with_traversal_path_is_refused(
    keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    """Even a validly signed manifest may not name files outside its directory."""
    evil = ModelManifest.build(
        name="m", kind="lightgbm", detector=None, params={},
        files=(FileEntry("../outside.txt", "0" * 64, 1, "lightgbm-text"),), lineage=Lineage(),
        code=CodeVersion("0.1.0"), metrics={}, signer_key_id=keys[0].key_id)
    d = tmp_path / "m"
    d.mkdir()
    (d / "manifest.json").write_bytes(evil.canonical_bytes())
    (d / "manifest.sig").write_bytes(_envelope_bytes(keys[0], evil.canonical_bytes()))
    with pytest.raises(UnsafeArtifactError, match="unsafe or reserved payload file name"):
        open_model_dir(d, keys[1])


def test_signature_file_must_be_canonical(keys: tuple[Signer, Verifier], tmp_path: Path) -> None:
    d = tmp_path / "m"
    seal_model_dir(d, {"w.bin": ("lightgbm-text", b"abc")}, name="m", kind="lightgbm",
                   detector=None, params={}, signer=keys[0])
    envelope = json.loads((d / "manifest.sig").read_bytes())
    (d / "manifest.sig").write_text(json.dumps(envelope, indent=1))
    with pytest.raises(UnsafeArtifactError, match="canonical form"):
        open_model_dir(d, keys[1])
    envelope["algorithm"] = "rsa"
    (d / "manifest.sig").write_bytes(canonical_json(envelope))
    with pytest.raises(UnsafeArtifactError, match="unexpected fields or algorithm"):
        open_model_dir(d, keys[1])


def test_directory_entries_must_be_plain_files(
    keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    d = tmp_path / "m"
    seal_model_dir(d, {"w.bin": ("lightgbm-text", b"abc")}, name="m", kind="lightgbm",
                   detector=None, params={}, signer=keys[0])
    (d / "sub").mkdir()
    with pytest.raises(UnsafeArtifactError, match="non-regular file 'sub'"):
        open_model_dir(d, keys[1])
    with pytest.raises(UnsafeArtifactError, match="not a model directory"):
        open_model_dir(tmp_path / "nope", keys[1])
    with pytest.raises(UnsafeArtifactError, match="unsafe or reserved"):
        seal_model_dir(tmp_path / "x", {"manifest.json": ("r", b"")}, name="m",
                       kind="lightgbm", detector=None, params={}, signer=keys[0])


def test_fingerprints_change_with_content_and_not_otherwise(tmp_path: Path) -> None:
    df = pl.DataFrame({"x": [1.0, 2.0, None], "s": ["a", None, "ccc"], "b": [True, False, True],
                       "t": pl.Series([1, 2, 3]).cast(pl.Datetime("us")),
                       "l": [[1], [], [2, 3]]})
    fp = fingerprint_frame(df)
    assert fp == fingerprint_frame(df.clone()) and fp.rows == 3
    for changed in (df.with_columns(pl.col("x").fill_null(0.0)),
                    df.with_columns(pl.col("s").fill_null("")),
                    df.rename({"x": "y"}),
                    df.with_columns(pl.col("x").cast(pl.Float32)),
                    df.head(2)):
        assert fingerprint_frame(changed).sha256 != fp.sha256
    a = fingerprint_arrays({"X": np.arange(6).reshape(3, 2)})
    assert a.sha256 != fingerprint_arrays({"X": np.arange(6).reshape(2, 3)}).sha256
    with pytest.raises(IntegrityError, match="object dtype"):
        fingerprint_arrays({"X": np.array([None])})
    (tmp_path / "a.log").write_text("one")
    (tmp_path / "b.log").write_text("two")
    files = fingerprint_files([tmp_path / "b.log", tmp_path / "a.log"])
    assert files.columns == ("a.log", "b.log") and files.rows == 2
    (tmp_path / "b.log").write_text("tw0")
    assert fingerprint_files([tmp_path / "a.log", tmp_path / "b.log"]).sha256 != files.sha256


def test_code_version_names_this_package() -> None:
    code = current_code_version()
    assert code.mirrorguard == "0.1.0"
    assert code.git_rev is None or len(code.git_rev) == 40
