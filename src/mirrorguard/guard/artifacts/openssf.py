"""OpenSSF model-signing interoperability, offline, with plain keys.

The OpenSSF model-signing format (``model_signing`` v1.x, https://github.com/sigstore/
model-transparency) is a Sigstore bundle (media type ``application/vnd.dev.sigstore.bundle.v0.3
+json``) holding a DSSE envelope (https://github.com/secure-systems-lab/dsse, signature over the
PAE encoding) around an in-toto Statement v1 whose predicate
``https://model_signing/signature/v1.0`` lists every file of the model directory with its
sha256 (serialization method ``files``), and whose single subject carries a root digest: sha256
over the concatenated raw file digests in path order.

What works here, without network:

* **export** a bundle over a mirrorguard model directory, signed with our Ed25519 key
  (:class:`~mirrorguard.guard.keys.Signer`) or with an EC P-256/384/521 private key. The
  ``model_signing`` library (1.1) verifies key-signed bundles only for EC keys, so use an EC key
  when a third party must verify with their tool; Ed25519 bundles verify here.
* **verify** a key-signed bundle (ours or one made by ``model_signing sign key``) against a
  directory and a public key: signature first, then every file digest, extra and missing files.

Keyless Sigstore bundles (Fulcio certificate + Rekor entry) and certificate-chain bundles need
online trust roots or a PKI and are refused with a clear error.

>>> import tempfile
>>> from mirrorguard.guard.keys import Signer, generate_keypair
>>> d = Path(tempfile.mkdtemp()); (d / "model").mkdir(); (d / "model" / "w.bin").write_bytes(b"w")
1
>>> priv, pub = generate_keypair()
>>> _ = export_openssf_bundle(d / "model", Signer(priv), d / "model.sig")
>>> verify_openssf_bundle(d / "model", d / "model.sig", pub).files
1
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mirrorguard.errors import UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import canonical_json, sha256_file
from mirrorguard.guard.keys import Signer

BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
)
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
DEFAULT_IGNORE = (".git", ".gitattributes", ".github", ".gitignore")
MAX_BUNDLE_BYTES = 64 << 20

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey
SigningKey = Signer | ec.EllipticCurvePrivateKey


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of a payload.

    >>> pae("t", b"ab")
    b'DSSEv1 1 t 2 ab'
    """
    head = f"DSSEv1 {len(payload_type.encode())} {payload_type} {len(payload)} "
    return head.encode("utf-8") + payload


def key_hint(public_key: PublicKey) -> str:
    """The bundle's public-key hint: sha256 hex of the SubjectPublicKeyInfo PEM."""
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()


def _ec_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    sizes: dict[int, hashes.HashAlgorithm] = {
        256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}
    if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
        raise UnsafeArtifactError(f"unsupported EC curve {key.curve.name}")
    return sizes[key.curve.key_size]


def _is_ignored(rel: PurePosixPath, ignore: list[PurePosixPath]) -> bool:
    return any(rel == p or p in rel.parents for p in ignore)


def hash_directory(root: Path, ignore: list[PurePosixPath]) -> dict[str, str]:
    """Relative POSIX path -> sha256 hex of every regular file under ``root`` (no symlinks)."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            full = base / name
            rel = PurePosixPath(full.relative_to(root).as_posix())
            mode = full.lstat().st_mode
            if _is_ignored(rel, ignore):
                if name in dirnames:
                    dirnames.remove(name)
                continue
            if stat.S_ISLNK(mode):
                raise UnsafeArtifactError("symbolic links are not allowed", file=str(full))
            if stat.S_ISREG(mode):
                found[str(rel)] = sha256_file(full)[0]
    return found


def _ordered(digests: dict[str, str]) -> list[tuple[str, str]]:
    # model_signing orders resources by path (component-wise), as pathlib does
    return sorted(digests.items(), key=lambda kv: PurePosixPath(kv[0]).parts)


def build_statement(model_dir: Path, ignore: tuple[str, ...] = DEFAULT_IGNORE) -> dict[str, Any]:
    """The in-toto statement the OpenSSF format signs for ``model_dir``."""
    rel_ignore = [PurePosixPath(p) for p in ignore]
    ordered = _ordered(hash_directory(model_dir, rel_ignore))
    root = hashlib.sha256(b"".join(bytes.fromhex(d) for _, d in ordered)).hexdigest()
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_dir.resolve().name, "digest": {"sha256": root}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256",
                              "allow_symlinks": False, "ignore_paths": list(ignore)},
            "resources": [{"name": n, "algorithm": "sha256", "digest": d} for n, d in ordered],
        },
    }


def export_openssf_bundle(model_dir: Path, key: SigningKey, out: Path) -> dict[str, Any]:
    """Sign ``model_dir`` in the OpenSSF model-signing format and write the bundle to ``out``.

    ``out`` must lie outside the model directory (a mirrorguard model directory holds exactly
    the files its manifest lists).
    """
    model_dir, out = Path(model_dir), Path(out)
    if out.resolve().is_relative_to(model_dir.resolve()):
        raise UnsafeArtifactError("write the OpenSSF bundle outside the model directory",
                                  file=str(out))
    payload = canonical_json(build_statement(model_dir))
    to_sign = pae(PAYLOAD_TYPE, payload)
    public: PublicKey
    if isinstance(key, Signer):
        signature, public = key.sign(to_sign), key.public_key
    else:
        ec_public = key.public_key()
        signature, public = key.sign(to_sign, ec.ECDSA(_ec_hash(ec_public))), ec_public
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPES[0],
        "verificationMaterial": {"publicKey": {"hint": key_hint(public)}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(canonical_json(bundle))
    return bundle


@dataclass(frozen=True)
class OpenSSFVerification:
    """A bundle that verified: model name, root digest, number of files checked."""

    model_name: str
    root_digest: str
    files: int
    key_hint: str


def _b64(value: Any, what: str, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnsafeArtifactError(f"{what} is not base64", file=where) from exc


def _verify_envelope(bundle: Any, public_key: PublicKey, where: str) -> bytes:
    """Check media type, key hint and the DSSE signature; return the signed payload."""
    if not isinstance(bundle, dict) or bundle.get("mediaType") not in BUNDLE_MEDIA_TYPES:
        raise UnsafeArtifactError("not a Sigstore v0.3 bundle", file=where)
    material = bundle.get("verificationMaterial") or {}
    if "publicKey" not in material:
        raise UnsafeArtifactError(
            "keyless or certificate bundles need Sigstore trust roots; only key-signed "
            "bundles are verified offline", file=where)
    hint = (material.get("publicKey") or {}).get("hint")
    if hint and hint != key_hint(public_key):
        raise UnsafeArtifactError(f"bundle is for key hint {str(hint)[:16]}…, not the key given",
                                  file=where)
    env = bundle.get("dsseEnvelope") or {}
    sigs = env.get("signatures") or []
    if env.get("payloadType") != PAYLOAD_TYPE or len(sigs) != 1:
        raise UnsafeArtifactError("DSSE envelope must carry one in-toto signature", file=where)
    payload = _b64(env.get("payload"), "payload", where)
    signature = _b64(sigs[0].get("sig"), "signature", where)
    try:
        if isinstance(public_key, Ed25519PublicKey):
            public_key.verify(signature, pae(PAYLOAD_TYPE, payload))
        else:
            public_key.verify(signature, pae(PAYLOAD_TYPE, payload),
                              ec.ECDSA(_ec_hash(public_key)))
    except InvalidSignature as exc:
        raise UnsafeArtifactError("DSSE signature does not verify with the key given",
                                  file=where) from exc
    return payload


def _expected_files(statement: Any, where: str) -> tuple[str, str, dict[str, str], list[str]]:
    """(model name, root digest, path -> digest, ignore paths) from a verified statement."""
    try:
        if statement["_type"] != STATEMENT_TYPE or statement["predicateType"] != PREDICATE_TYPE:
            raise UnsafeArtifactError("not a model_signing v1.0 in-toto statement", file=where)
        (subject,) = statement["subject"]
        ser = statement["predicate"]["serialization"]
        if ser["method"] != "files" or ser["hash_type"] != "sha256":
            raise UnsafeArtifactError(f"unsupported serialization {ser!r}", file=where)
        resources = statement["predicate"]["resources"]
        expected = {str(r["name"]): str(r["digest"]) for r in resources
                    if r["algorithm"] == "sha256"}
        root = str(subject["digest"]["sha256"])
        ignore = [str(p) for p in ser.get("ignore_paths", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsafeArtifactError(f"malformed statement: {exc!r}", file=where) from exc
    if len(expected) != len(resources):
        raise UnsafeArtifactError("statement lists unsupported or duplicate digests", file=where)
    # the root digest covers the digests in the order the statement lists them
    raw = b"".join(bytes.fromhex(str(r["digest"])) for r in resources)
    if hashlib.sha256(raw).hexdigest() != root:
        raise UnsafeArtifactError("statement root digest does not match its resources",
                                  file=where)
    return str(subject.get("name", "")), root, expected, ignore


def verify_openssf_bundle(
    model_dir: Path, bundle_path: Path, public_key: PublicKey
) -> OpenSSFVerification:
    """Verify a key-signed OpenSSF bundle against ``model_dir`` (signature before any file)."""
    model_dir, bundle_path = Path(model_dir), Path(bundle_path)
    where = str(bundle_path)
    raw = bundle_path.read_bytes()
    if len(raw) > MAX_BUNDLE_BYTES:
        raise UnsafeArtifactError("bundle too large", file=where)
    try:
        bundle = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeArtifactError(f"bundle is not JSON: {exc}", file=where) from exc
    payload = _verify_envelope(bundle, public_key, where)
    try:
        statement = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeArtifactError(f"signed payload is not JSON: {exc}", file=where) from exc
    name, root, expected, ignore = _expected_files(statement, where)
    rel_ignore = [PurePosixPath(p) for p in ignore]
    if bundle_path.resolve().is_relative_to(model_dir.resolve()):
        rel_ignore.append(PurePosixPath(bundle_path.resolve().relative_to(model_dir.resolve())
                                        .as_posix()))
    actual = hash_directory(model_dir, rel_ignore)
    problems = (
        [f"extra: {p}" for p in sorted(set(actual) - set(expected))]
        + [f"missing: {p}" for p in sorted(set(expected) - set(actual))]
        + [f"changed: {p}" for p in sorted(set(actual) & set(expected))
           if actual[p] != expected[p]]
    )
    if problems:
        raise UnsafeArtifactError("model does not match the OpenSSF bundle: "
                                  + "; ".join(problems), file=str(model_dir))
    return OpenSSFVerification(name, root, len(expected), key_hint(public_key))
