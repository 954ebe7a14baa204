"""CycloneDX 1.6 ML-BOM export, validated against the official JSON schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mirrorguard.guard.artifacts.bom import model_bom
from mirrorguard.guard.artifacts.registry import ModelRegistry
from mirrorguard.guard.artifacts.seal import open_model_dir
from mirrorguard.guard.keys import Signer, Verifier

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def _errors(doc: dict[str, Any]) -> Any:
    return VALIDATOR.validate_str(json.dumps(doc))


@pytest.mark.parametrize("kind", ["detector", "lightgbm", "isolation_forest"])
def test_bom_is_valid_cyclonedx_and_carries_lineage(
    kind: str, saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
) -> None:
    manifest = open_model_dir(saved_models[kind][0], keys[1]).manifest
    doc = model_bom(manifest, stage="candidate", version=1)
    assert _errors(doc) is None
    model, data = doc["components"]
    assert model["type"] == "machine-learning-model" and data["type"] == "data"
    assert {f["name"] for f in model["components"]} == {f.path for f in manifest.files}
    assert {h["content"] for f in model["components"] for h in f["hashes"]} == {
        f.sha256 for f in manifest.files}
    assert manifest.lineage.training_data is not None
    assert data["hashes"][0]["content"] == manifest.lineage.training_data.sha256
    assert model["modelCard"]["modelParameters"]["datasets"] == [{"ref": data["bom-ref"]}]
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["mirrorguard:model_id"] == manifest.model_id
    assert props["mirrorguard:lineage:ingest_id"] == "ingest-1"
    assert props["mirrorguard:signer_key_id"] == keys[1].key_id
    assert props["mirrorguard:stage"] == "candidate"
    metrics = model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
    assert metrics == [{"type": k, "value": json.dumps(v)} for k, v in manifest.metrics.items()]
    assert doc["dependencies"][0] == {"ref": model["bom-ref"], "dependsOn": [data["bom-ref"]]}


def test_validator_really_rejects_broken_boms(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
) -> None:
    doc = model_bom(open_model_dir(saved_models["lightgbm"][0], keys[1]).manifest)
    doc["components"][0]["type"] = "neural-network"
    assert _errors(doc) is not None
    doc = model_bom(open_model_dir(saved_models["lightgbm"][0], keys[1]).manifest)
    doc["components"][0]["hashes"][0]["alg"] = "SHA-999"
    assert _errors(doc) is not None


def test_bom_from_registry_names_version_and_stage(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
) -> None:
    reg = ModelRegistry(duckdb.connect(), keys[1])
    rec = reg.register(saved_models["isolation_forest"][0])
    reg.promote(rec.model_id, "alice", "go")
    rec = reg.get(rec.model_id)
    doc = model_bom(rec.manifest, stage=rec.stage, version=rec.version)
    assert _errors(doc) is None
    model = doc["components"][0]
    assert model["version"] == "1"
    assert model["modelCard"]["modelParameters"]["approach"] == {"type": "unsupervised"}
    assert {"name": "mirrorguard:stage", "value": "production"} in model["properties"]
