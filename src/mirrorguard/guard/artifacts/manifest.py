"""The model manifest: what is signed about a saved model.

A model directory holds ``manifest.json`` (canonical JSON, see :mod:`.canonical`),
``manifest.sig`` (the Ed25519 signature over those exact bytes) and the payload files the
manifest lists. The manifest binds every payload file (name, sha256, size), the parameters,
the training-data fingerprint, the ingest ids, the code version, the metrics, the parent model
and the signer's key id. Parsing is strict: unknown or missing keys are errors.

>>> m = ModelManifest.build(
...     name="demo", kind="lightgbm", detector=None, params={"trees": 3},
...     files=(FileEntry("model.txt", "0" * 64, 10, "lightgbm-text"),),
...     lineage=Lineage(), code=CodeVersion("0.1.0", None), metrics={"auc": 0.9},
...     signer_key_id="ab" * 32, created_at="2025-01-01T00:00:00+00:00",
... )
>>> ModelManifest.from_json(m.to_json()) == m
True
>>> m.model_id == ModelManifest.compute_id(m.body())
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args

from mirrorguard.errors import UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import (
    DataFingerprint,
    canonical_json,
    check_json_value,
    sha256_hex,
)

SCHEMA_VERSION = 1
FORMAT = "mirrorguard.model/v1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
RESERVED_NAMES = frozenset({MANIFEST_NAME, SIGNATURE_NAME})

ModelKind = Literal["detector", "lightgbm", "isolation_forest"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def check_file_name(name: str, where: str = MANIFEST_NAME) -> str:
    """Payload names are flat, plain and not reserved (no ``/``, ``..``, hidden files)."""
    if not _SAFE_NAME.match(name) or name in RESERVED_NAMES:
        raise UnsafeArtifactError(f"unsafe or reserved payload file name {name!r}", file=where)
    return name


def _get(data: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise UnsafeArtifactError(f"missing field {key!r}", file=where)
    value = data[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise UnsafeArtifactError(f"field {key!r} has the wrong type", file=where)
    return value


def _exact_keys(data: dict[str, Any], keys: set[str], where: str) -> None:
    extra, missing = set(data) - keys, keys - set(data)
    if extra or missing:
        raise UnsafeArtifactError(
            f"unexpected fields {sorted(extra)} / missing fields {sorted(missing)}", file=where
        )


@dataclass(frozen=True)
class FileEntry:
    """One payload file: flat name, sha256 hex, size in bytes and its role in the format."""

    path: str
    sha256: str
    size: int
    role: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "role": self.role}

    @classmethod
    def from_json(cls, data: Any, where: str) -> FileEntry:
        if not isinstance(data, dict):
            raise UnsafeArtifactError("file entry is not an object", file=where)
        _exact_keys(data, {"path", "sha256", "size", "role"}, where)
        digest = _get(data, "sha256", str, where)
        if not _HEX64.match(digest):
            raise UnsafeArtifactError(f"file digest {digest!r} is not sha256 hex", file=where)
        size = _get(data, "size", int, where)
        if size < 0:
            raise UnsafeArtifactError("negative file size", file=where)
        name = check_file_name(_get(data, "path", str, where), where)
        return cls(name, digest, size, _get(data, "role", str, where))


@dataclass(frozen=True)
class Lineage:
    """Where a model came from: training data, ingested sources, parent model."""

    training_data: DataFingerprint | None = None
    ingest_ids: tuple[str, ...] = ()
    parent_model_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "training_data": None if self.training_data is None else self.training_data.to_json(),
            "ingest_ids": list(self.ingest_ids),
            "parent_model_id": self.parent_model_id,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Lineage:
        if not isinstance(data, dict):
            raise UnsafeArtifactError("lineage is not an object", file=where)
        _exact_keys(data, {"training_data", "ingest_ids", "parent_model_id"}, where)
        td = data["training_data"]
        ids = _get(data, "ingest_ids", list, where)
        parent = data["parent_model_id"]
        if not all(isinstance(i, str) for i in ids) or not isinstance(parent, str | None):
            raise UnsafeArtifactError("lineage ids must be strings", file=where)
        try:
            fp = None if td is None else DataFingerprint.from_json(td)
        except (KeyError, TypeError, ValueError) as exc:
            raise UnsafeArtifactError(f"bad training-data fingerprint: {exc}", file=where) from exc
        return cls(fp, tuple(ids), parent)


@dataclass(frozen=True)
class CodeVersion:
    """The code that produced a model: mirrorguard's version and the git revision if known."""

    mirrorguard: str
    git_rev: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"mirrorguard": self.mirrorguard, "git_rev": self.git_rev}

    @classmethod
    def from_json(cls, data: Any, where: str) -> CodeVersion:
        if not isinstance(data, dict):
            raise UnsafeArtifactError("code is not an object", file=where)
        _exact_keys(data, {"mirrorguard", "git_rev"}, where)
        rev = data["git_rev"]
        if not isinstance(rev, str | None):
            raise UnsafeArtifactError("code.git_rev must be a string", file=where)
        return cls(_get(data, "mirrorguard", str, where), rev)


_TOP_KEYS = {
    "schema_version", "format", "model_id", "name", "kind", "detector", "params", "files",
    "lineage", "code", "metrics", "created_at", "signer_key_id",
}


@dataclass(frozen=True)
class ModelManifest:
    """Everything signed about one saved model. Build with :meth:`build`."""

    model_id: str
    name: str
    kind: ModelKind
    detector: str | None
    params: dict[str, Any]
    files: tuple[FileEntry, ...]
    lineage: Lineage
    code: CodeVersion
    metrics: dict[str, Any]
    created_at: str
    signer_key_id: str
    schema_version: int = SCHEMA_VERSION
    format: str = field(default=FORMAT)

    @staticmethod
    def compute_id(body: dict[str, Any]) -> str:
        """The model id: ``m-`` + 32 hex digits of sha256 over the canonical body."""
        return "m-" + sha256_hex(canonical_json(body))[:32]

    @classmethod
    def build(
        cls, *, name: str, kind: ModelKind, detector: str | None, params: dict[str, Any],
        files: tuple[FileEntry, ...], lineage: Lineage, code: CodeVersion,
        metrics: dict[str, Any], signer_key_id: str, created_at: str | None = None,
    ) -> ModelManifest:
        """A new manifest; its id is derived from all the other fields."""
        check_json_value(params, "params")
        check_json_value(metrics, "metrics")
        stamp = created_at or datetime.now(UTC).isoformat()
        draft = cls("", name, kind, detector, params, tuple(sorted(files, key=lambda f: f.path)),
                     lineage, code, metrics, stamp, signer_key_id)
        return replace(draft, model_id=cls.compute_id(draft.body()))

    def body(self) -> dict[str, Any]:
        """The manifest as JSON without ``model_id`` (what the id is computed over)."""
        return {
            "schema_version": self.schema_version, "format": self.format, "name": self.name,
            "kind": self.kind, "detector": self.detector, "params": self.params,
            "files": [f.to_json() for f in self.files], "lineage": self.lineage.to_json(),
            "code": self.code.to_json(), "metrics": self.metrics,
            "created_at": self.created_at, "signer_key_id": self.signer_key_id,
        }

    def to_json(self) -> dict[str, Any]:
        return {"model_id": self.model_id, **self.body()}

    def canonical_bytes(self) -> bytes:
        """The exact bytes written to ``manifest.json`` and signed."""
        return canonical_json(self.to_json())

    def file(self, name: str) -> FileEntry:
        for entry in self.files:
            if entry.path == name:
                return entry
        raise UnsafeArtifactError(f"manifest lists no file {name!r}", file=MANIFEST_NAME)

    @classmethod
    def from_json(cls, data: Any, where: str = MANIFEST_NAME) -> ModelManifest:
        """Parse and validate strictly (unknown keys, wrong types and bad ids are errors)."""
        if not isinstance(data, dict):
            raise UnsafeArtifactError("manifest is not a JSON object", file=where)
        _exact_keys(data, _TOP_KEYS, where)
        if _get(data, "schema_version", int, where) != SCHEMA_VERSION:
            raise UnsafeArtifactError(
                f"unsupported manifest schema_version {data['schema_version']!r}", file=where
            )
        if _get(data, "format", str, where) != FORMAT:
            raise UnsafeArtifactError(f"unknown manifest format {data['format']!r}", file=where)
        kind = _get(data, "kind", str, where)
        if kind not in MODEL_KINDS:
            raise UnsafeArtifactError(f"unknown model kind {kind!r}", file=where)
        detector = data["detector"]
        if not isinstance(detector, str | None):
            raise UnsafeArtifactError("field 'detector' has the wrong type", file=where)
        files = tuple(FileEntry.from_json(f, where) for f in _get(data, "files", list, where))
        if len({f.path for f in files}) != len(files):
            raise UnsafeArtifactError("manifest lists a file twice", file=where)
        manifest = cls(
            model_id=_get(data, "model_id", str, where), name=_get(data, "name", str, where),
            kind=cast(ModelKind, kind), detector=detector,
            params=_get(data, "params", dict, where), files=files,
            lineage=Lineage.from_json(data["lineage"], where),
            code=CodeVersion.from_json(data["code"], where),
            metrics=_get(data, "metrics", dict, where),
            created_at=_get(data, "created_at", str, where),
            signer_key_id=_get(data, "signer_key_id", str, where),
        )
        if manifest.model_id != cls.compute_id(manifest.body()):
            raise UnsafeArtifactError("model_id does not match the manifest content", file=where)
        return manifest

