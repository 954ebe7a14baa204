"""Sealing and opening model directories: sign on save, verify everything before any load.

:func:`seal_model_dir` writes payload files, a canonical ``manifest.json`` listing each file's
sha256 and size, and ``manifest.sig`` (Ed25519, RFC 8032, over the manifest's exact bytes).
:func:`open_model_dir` is the only way to get a :class:`VerifiedModel`: it checks, in order,
that the directory holds only plain files, that it is signed, that the signature envelope is
canonical, that the signing key is trusted, that the signature verifies, that the manifest
parses strictly, that no file is missing or extra, and that every file's size and sha256
match. Payload bytes are read once, checked, and handed to the deserialisers from memory, so
nothing can be swapped between the check and the load.

>>> import tempfile
>>> from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
>>> priv, pub = generate_keypair()
>>> d = Path(tempfile.mkdtemp()) / "m"
>>> _ = seal_model_dir(d, {"model.txt": ("lightgbm-text", b"tree")}, name="demo",
...                    kind="lightgbm", detector=None, params={}, signer=Signer(priv))
>>> open_model_dir(d, Verifier(pub)).payload("model.txt")
b'tree'
>>> (d / "model.txt").write_bytes(b"tref") and None
>>> open_model_dir(d, Verifier(pub))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mirrorguard.errors.UnsafeArtifactError: .../model.txt: sha256 does not match the manifest ...
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import mirrorguard
from mirrorguard.errors import IntegrityError, UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import canonical_json, sha256_hex
from mirrorguard.guard.artifacts.manifest import (
    MANIFEST_NAME,
    RESERVED_NAMES,
    SIGNATURE_NAME,
    CodeVersion,
    FileEntry,
    Lineage,
    ModelKind,
    ModelManifest,
    check_file_name,
)
from mirrorguard.guard.keys import Signer, Verifier

MAX_MANIFEST_BYTES = 16 << 20
MAX_SIGNATURE_BYTES = 4096
_SIG_KEYS = {"schema_version", "algorithm", "key_id", "manifest_sha256", "signature"}


class TrustStore:
    """The public keys whose signatures are accepted, by key id (fingerprint)."""

    def __init__(self, verifiers: Iterable[Verifier]) -> None:
        self._by_id = {v.key_id: v for v in verifiers}

    @classmethod
    def of(cls, trusted: Verifier | TrustStore | Iterable[Verifier]) -> TrustStore:
        if isinstance(trusted, TrustStore):
            return trusted
        return cls([trusted] if isinstance(trusted, Verifier) else trusted)

    def get(self, key_id: str) -> Verifier | None:
        return self._by_id.get(key_id)

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._by_id)


Trusted = Verifier | TrustStore | Iterable[Verifier]


@cache
def current_code_version() -> CodeVersion:
    """mirrorguard's version plus the git revision of the source tree, when it is one."""
    git = shutil.which("git")
    rev = None
    if git is not None:
        try:
            rev = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [git, "-C", str(Path(mirrorguard.__file__).parent), "rev-parse", "HEAD"],
                capture_output=True, text=True, check=True, timeout=5,
            ).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            rev = None
    return CodeVersion(mirrorguard.__version__, rev)


def _envelope_bytes(signer: Signer, manifest_bytes: bytes) -> bytes:
    return canonical_json({
        "schema_version": 1, "algorithm": "ed25519", "key_id": signer.key_id,
        "manifest_sha256": sha256_hex(manifest_bytes),
        "signature": base64.b64encode(signer.sign(manifest_bytes)).decode("ascii"),
    })


def seal_model_dir(
    path: Path, payloads: Mapping[str, tuple[str, bytes]], *, name: str, kind: ModelKind,
    detector: str | None, params: dict[str, Any], signer: Signer,
    lineage: Lineage | None = None, metrics: dict[str, Any] | None = None,
    code: CodeVersion | None = None, overwrite: bool = False,
) -> ModelManifest:
    """Write ``payloads`` (name -> (role, bytes)) plus a signed manifest into ``path``.

    The directory is written under a temporary name and renamed into place, so a reader never
    sees a half-written model.
    """
    files = tuple(
        FileEntry(check_file_name(fname, "payload"), sha256_hex(data), len(data), role)
        for fname, (role, data) in payloads.items()
    )
    manifest = ModelManifest.build(
        name=name, kind=kind, detector=detector, params=params, files=files,
        lineage=lineage or Lineage(), code=code or current_code_version(),
        metrics=metrics or {}, signer_key_id=signer.key_id,
    )
    manifest_bytes = manifest.canonical_bytes()
    if path.exists() and not overwrite:
        raise UnsafeArtifactError("model directory already exists", file=str(path),
                                  hint="pass overwrite=True or choose a new path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        for fname, (_role, data) in payloads.items():
            (tmp / fname).write_bytes(data)
        (tmp / MANIFEST_NAME).write_bytes(manifest_bytes)
        (tmp / SIGNATURE_NAME).write_bytes(_envelope_bytes(signer, manifest_bytes))
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _replace_dir(new: Path, path: Path) -> None:
    if not path.exists():
        os.replace(new, path)
        return
    old = path.with_name(f".{path.name}.old-{secrets.token_hex(4)}")
    os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class VerifiedModel:
    """A model directory whose signature and every file digest were checked.

    Only :func:`open_model_dir` creates these; deserialisers take one, never a path.
    """

    directory: Path
    manifest: ModelManifest
    payloads: Mapping[str, bytes]
    signer_key_id: str

    def payload(self, name: str) -> bytes:
        if name not in self.payloads:
            raise UnsafeArtifactError(f"model has no payload {name!r}", file=str(self.directory))
        return self.payloads[name]

    def payload_by_role(self, role: str) -> tuple[str, bytes]:
        """The one payload file with this role (the format decides roles)."""
        names = [f.path for f in self.manifest.files if f.role == role]
        if len(names) != 1:
            raise UnsafeArtifactError(
                f"expected one payload with role {role!r}, found {len(names)}",
                file=str(self.directory / MANIFEST_NAME),
            )
        return names[0], self.payloads[names[0]]


def _read_limited(path: Path, limit: int) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UnsafeArtifactError(f"file larger than {limit} bytes", file=str(path))
    return data


def _list_dir(path: Path) -> set[str]:
    if not path.is_dir():
        raise UnsafeArtifactError("not a model directory", file=str(path))
    names = set()
    for entry in os.scandir(path):
        mode = entry.stat(follow_symlinks=False).st_mode
        if not stat.S_ISREG(mode):
            what = "symbolic link" if stat.S_ISLNK(mode) else "non-regular file"
            raise UnsafeArtifactError(f"{what} {entry.name!r} in model directory",
                                      file=str(path))
        names.add(entry.name)
    return names


def _parse_envelope(raw: bytes, where: str) -> tuple[str, str, bytes]:
    """(key_id, manifest_sha256, signature) from a canonical ``manifest.sig``."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeArtifactError(f"signature file is not valid JSON: {exc}", file=where) from exc
    ok = isinstance(data, dict) and set(data) == _SIG_KEYS and all(
        isinstance(data[k], str) for k in _SIG_KEYS - {"schema_version"}
    )
    if not ok or data["schema_version"] != 1 or data["algorithm"] != "ed25519":
        raise UnsafeArtifactError("signature file has unexpected fields or algorithm",
                                  file=where)
    try:
        signature = base64.b64decode(data["signature"], validate=True)
        canonical = canonical_json(data)
    except (binascii.Error, ValueError, IntegrityError) as exc:
        raise UnsafeArtifactError(f"signature is not valid base64: {exc}", file=where) from exc
    if canonical != raw or base64.b64encode(signature).decode("ascii") != data["signature"]:
        raise UnsafeArtifactError("signature file is not in canonical form", file=where)
    return str(data["key_id"]), str(data["manifest_sha256"]), signature


def _check_signature(path: Path, manifest_bytes: bytes, trust: TrustStore) -> str:
    where = str(path / SIGNATURE_NAME)
    key_id, signed_digest, signature = _parse_envelope(
        _read_limited(path / SIGNATURE_NAME, MAX_SIGNATURE_BYTES), where
    )
    actual = sha256_hex(manifest_bytes)
    if actual != signed_digest:
        raise UnsafeArtifactError(
            f"manifest.json does not match the digest recorded in manifest.sig (sha256 "
            f"{actual}, recorded {signed_digest}): one of them was changed after signing",
            file=str(path / MANIFEST_NAME),
        )
    verifier = trust.get(key_id)
    if verifier is None:
        raise UnsafeArtifactError(
            f"signed by key {key_id[:16]}…, which is not trusted "
            f"(trusted: {', '.join(k[:16] + '…' for k in trust.key_ids) or 'none'})", file=where,
        )
    try:
        verifier.verify(manifest_bytes, signature)
    except IntegrityError as exc:
        raise UnsafeArtifactError(
            f"signature over manifest.json does not verify with key {key_id[:16]}…", file=where
        ) from exc
    return key_id


def _parse_manifest(path: Path, manifest_bytes: bytes, key_id: str) -> ModelManifest:
    where = str(path / MANIFEST_NAME)
    try:
        manifest = ModelManifest.from_json(json.loads(manifest_bytes), where)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeArtifactError(f"manifest is not valid JSON: {exc}", file=where) from exc
    if manifest.canonical_bytes() != manifest_bytes:
        raise UnsafeArtifactError("manifest is not in canonical form", file=where)
    if manifest.signer_key_id != key_id:
        raise UnsafeArtifactError("manifest names another signer than its signature",
                                  file=where)
    return manifest


def _check_files(path: Path, manifest: ModelManifest, present: set[str]) -> dict[str, bytes]:
    listed = {f.path for f in manifest.files}
    extra, missing = sorted(present - RESERVED_NAMES - listed), sorted(listed - present)
    if extra or missing:
        parts = ([f"extra file(s) not in the manifest: {', '.join(extra)}"] if extra else []) + (
            [f"file(s) listed in the manifest are missing: {', '.join(missing)}"]
            if missing else [])
        raise UnsafeArtifactError("; ".join(parts), file=str(path))
    payloads: dict[str, bytes] = {}
    for entry in manifest.files:
        fpath = path / entry.path
        if fpath.stat().st_size != entry.size:
            raise UnsafeArtifactError(
                f"size {fpath.stat().st_size} does not match the manifest ({entry.size})",
                file=str(fpath),
            )
        data = _read_limited(fpath, entry.size)
        digest = sha256_hex(data)
        if len(data) != entry.size or digest != entry.sha256:
            raise UnsafeArtifactError(
                f"sha256 does not match the manifest ({digest[:16]}…, signed "
                f"{entry.sha256[:16]}…)", file=str(fpath),
            )
        payloads[entry.path] = data
    return payloads


def open_model_dir(path: Path, trusted: Trusted) -> VerifiedModel:
    """Verify a model directory completely and return its checked payload bytes.

    Raises :class:`UnsafeArtifactError` naming what did not match: unsigned, untrusted key,
    bad signature, edited manifest, missing/extra/changed file.
    """
    path = Path(path)
    present = _list_dir(path)
    if SIGNATURE_NAME not in present:
        raise UnsafeArtifactError("unsigned model: manifest.sig is missing", file=str(path))
    if MANIFEST_NAME not in present:
        raise UnsafeArtifactError("manifest.json is missing", file=str(path))
    manifest_bytes = _read_limited(path / MANIFEST_NAME, MAX_MANIFEST_BYTES)
    key_id = _check_signature(path, manifest_bytes, TrustStore.of(trusted))
    manifest = _parse_manifest(path, manifest_bytes, key_id)
    payloads = _check_files(path, manifest, present)
    return VerifiedModel(path, manifest, payloads, key_id)
