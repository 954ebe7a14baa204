"""OpenSSF model-signing interop: our bundles, and a bundle made by model_signing 1.1.1."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mirrorguard.errors import UnsafeArtifactError
from mirrorguard.guard.artifacts.openssf import (
    PREDICATE_TYPE,
    export_openssf_bundle,
    verify_openssf_bundle,
)
from mirrorguard.guard.keys import Signer, Verifier

FIXTURE = Path(__file__).parent / "data" / "openssf"


def _flip(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_bundle_made_by_model_signing_verifies_offline(tmp_path: Path) -> None:
    pub = serialization.load_pem_public_key((FIXTURE / "ec.pub").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    res = verify_openssf_bundle(FIXTURE / "gbm", FIXTURE / "theirs_ec.sig", pub)
    assert res.files == 3 and res.model_name == "gbm"
    model = tmp_path / "gbm"
    shutil.copytree(FIXTURE / "gbm", model)
    _flip(model / "model.txt", 100)
    with pytest.raises(UnsafeArtifactError, match=r"changed: model.txt"):
        verify_openssf_bundle(model, FIXTURE / "theirs_ec.sig", pub)


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256", "ecdsa-p384"])
def test_export_verify_round_trip_and_tamper(
    algorithm: str, saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    tmp_path: Path,
) -> None:
    model = tmp_path / "model"
    shutil.copytree(saved_models["isolation_forest"][0], model)
    key: Any
    if algorithm == "ed25519":
        key, pub = keys[0], keys[0].public_key
    else:
        curve = ec.SECP256R1() if algorithm.endswith("256") else ec.SECP384R1()
        key = ec.generate_private_key(curve)
        pub = key.public_key()
    bundle = export_openssf_bundle(model, key, tmp_path / "model.sig")
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == PREDICATE_TYPE
    names = [r["name"] for r in statement["predicate"]["resources"]]
    assert names == sorted(["manifest.json", "manifest.sig", "forest.json", "forest.npz"])
    assert verify_openssf_bundle(model, tmp_path / "model.sig", pub).files == 4
    (model / "extra.bin").write_bytes(b"x")
    with pytest.raises(UnsafeArtifactError, match=r"extra: extra.bin"):
        verify_openssf_bundle(model, tmp_path / "model.sig", pub)
    (model / "extra.bin").unlink()
    (model / "forest.json").unlink()
    with pytest.raises(UnsafeArtifactError, match=r"missing: forest.json"):
        verify_openssf_bundle(model, tmp_path / "model.sig", pub)


def test_bundle_signature_and_key_are_checked_before_files(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    other_keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    model = saved_models["lightgbm"][0]
    out = tmp_path / "b.sig"
    bundle = export_openssf_bundle(model, keys[0], out)
    with pytest.raises(UnsafeArtifactError, match="key hint"):
        verify_openssf_bundle(model, out, other_keys[0].public_key)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    out.write_text(json.dumps(bundle))
    with pytest.raises(UnsafeArtifactError, match="DSSE signature does not verify"):
        verify_openssf_bundle(model, out, keys[0].public_key)
    del bundle["verificationMaterial"]["publicKey"]
    bundle["verificationMaterial"]["certificate"] = {"rawBytes": "AA=="}
    out.write_text(json.dumps(bundle))
    with pytest.raises(UnsafeArtifactError, match="keyless or certificate"):
        verify_openssf_bundle(model, out, keys[0].public_key)


def test_bundle_inside_the_model_directory_is_refused(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
) -> None:
    model = saved_models["lightgbm"][0]
    with pytest.raises(UnsafeArtifactError, match="outside the model directory"):
        export_openssf_bundle(model, keys[0], model / "model.sig")
    assert not (model / "model.sig").exists()
