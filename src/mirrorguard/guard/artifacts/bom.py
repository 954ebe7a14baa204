"""CycloneDX 1.6 ML-BOM for a saved model.

One BOM per model version (CycloneDX specification 1.6, https://cyclonedx.org/docs/1.6/json/):
the model is a ``machine-learning-model`` component with a SHA-256 hash of its signed manifest,
one nested ``file`` component per payload file with its SHA-256, and a ``modelCard`` (approach,
task, architecture, datasets, performance metrics). The training data is a ``data`` component
hashed with the training-data fingerprint. Lineage (parent model, ingest ids, code version,
signer key, stage) and parameters travel as ``mirrorguard:*`` properties.

>>> from mirrorguard.guard.artifacts.manifest import CodeVersion, FileEntry, Lineage
>>> m = ModelManifest.build(
...     name="demo", kind="isolation_forest", detector=None, params={"n_estimators": 100},
...     files=(FileEntry("forest.npz", "0" * 64, 10, "iforest-arrays"),), lineage=Lineage(),
...     code=CodeVersion("0.1.0"), metrics={"roc_auc": 0.93}, signer_key_id="ab" * 32)
>>> bom = model_bom(m)
>>> bom["specVersion"], bom["components"][0]["type"]
('1.6', 'machine-learning-model')
>>> bom["components"][0]["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
[{'type': 'roc_auc', 'value': '0.93'}]
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import mirrorguard
from mirrorguard.guard.artifacts.canonical import sha256_hex
from mirrorguard.guard.artifacts.manifest import ModelManifest

SPEC_VERSION = "1.6"
_NAMESPACE = uuid.UUID("6f1d3a52-3c1e-5b8e-9a61-4d2f0c7e8b10")

# per model kind: (learning approach, task, architecture family, architecture)
_CARDS: dict[str, tuple[str | None, str, str, str]] = {
    "lightgbm": ("supervised", "classification", "gradient-boosted decision trees", "LightGBM"),
    "isolation_forest": ("unsupervised", "anomaly-detection", "isolation forest",
                         "scikit-learn IsolationForest (explicit arrays)"),
    "detector": (None, "anomaly-detection", "mirrorguard detector", "mirrorguard detector"),
}


def _prop(name: str, value: Any) -> dict[str, str]:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return {"name": f"mirrorguard:{name}", "value": text}


def _properties(m: ModelManifest, stage: str | None, version: int | None) -> list[dict[str, str]]:
    props = [_prop("model_id", m.model_id), _prop("kind", m.kind),
             _prop("code:version", m.code.mirrorguard), _prop("signer_key_id", m.signer_key_id),
             _prop("created_at", m.created_at), _prop("schema_version", m.schema_version)]
    optional = {"detector": m.detector, "code:git_rev": m.code.git_rev, "stage": stage,
                "registry_version": version,
                "lineage:parent_model_id": m.lineage.parent_model_id}
    props += [_prop(k, v) for k, v in optional.items() if v is not None]
    props += [_prop("lineage:ingest_id", i) for i in m.lineage.ingest_ids]
    props += [_prop(f"param:{k}", v) for k, v in sorted(m.params.items())]
    props += [_prop(f"metric:{k}", v) for k, v in sorted(m.metrics.items())]
    return props


def _metrics(m: ModelManifest) -> list[dict[str, str]]:
    return [{"type": k, "value": json.dumps(v) if not isinstance(v, str) else v}
            for k, v in sorted(m.metrics.items()) if isinstance(v, int | float | str)]


def _data_component(m: ModelManifest) -> dict[str, Any] | None:
    td = m.lineage.training_data
    if td is None:
        return None
    return {
        "type": "data", "bom-ref": f"data:{td.sha256}", "name": td.source or "training data",
        "hashes": [{"alg": "SHA-256", "content": td.sha256}],
        "data": [{
            "type": "dataset", "name": td.source or "training data",
            "contents": {"properties": [
                {"name": "mirrorguard:rows", "value": str(td.rows)},
                {"name": "mirrorguard:columns", "value": json.dumps(list(td.columns))},
            ]},
        }],
    }


def _model_component(m: ModelManifest, data_ref: str | None, stage: str | None,
                     version: int | None) -> dict[str, Any]:
    approach, task, family, arch = _CARDS[m.kind]
    params: dict[str, Any] = {
        "task": task, "architectureFamily": family,
        "modelArchitecture": m.detector or arch,
        "inputs": [{"format": "tabular features"}], "outputs": [{"format": "score"}],
    }
    if approach is not None:
        params["approach"] = {"type": approach}
    if data_ref is not None:
        params["datasets"] = [{"ref": data_ref}]
    card: dict[str, Any] = {"bom-ref": f"{m.model_id}:card", "modelParameters": params}
    if metrics := _metrics(m):
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    return {
        "type": "machine-learning-model", "bom-ref": m.model_id, "name": m.name,
        "version": str(version) if version is not None else m.model_id,
        "hashes": [{"alg": "SHA-256", "content": sha256_hex(m.canonical_bytes())}],
        "components": [
            {"type": "file", "bom-ref": f"{m.model_id}/{f.path}", "name": f.path,
             "hashes": [{"alg": "SHA-256", "content": f.sha256}],
             "properties": [_prop("role", f.role), _prop("size", f.size)]}
            for f in m.files
        ],
        "modelCard": card,
        "properties": _properties(m, stage, version),
    }


def model_bom(m: ModelManifest, *, stage: str | None = None, version: int | None = None,
              timestamp: datetime | None = None) -> dict[str, Any]:
    """The CycloneDX 1.6 ML-BOM (a JSON-ready dict) for one model version."""
    data = _data_component(m)
    data_ref = None if data is None else str(data["bom-ref"])
    model = _model_component(m, data_ref, stage, version)
    serial = uuid.uuid5(_NAMESPACE, f"{m.model_id}:{stage}:{version}")
    deps = [{"ref": m.model_id, "dependsOn": [data_ref] if data_ref else []}]
    if data_ref is not None:
        deps.append({"ref": data_ref, "dependsOn": []})
    return {
        "bomFormat": "CycloneDX", "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}", "version": 1,
        "metadata": {
            "timestamp": (timestamp or datetime.now(UTC)).isoformat(timespec="seconds"),
            "tools": {"components": [{"type": "application", "name": "mirrorguard",
                                      "version": mirrorguard.__version__}]},
        },
        "components": [model] + ([] if data is None else [data]),
        "dependencies": deps,
    }
