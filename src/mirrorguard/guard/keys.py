"""Ed25519 signing keys, always by reference.

A key reference is ``env:VARNAME`` (PEM or raw 32-byte hex in the variable) or ``file:PATH``
(a PEM file). Keys are never embedded in settings, manifests or logs; only the public key's
fingerprint is ever printed.

>>> priv, pub = generate_keypair()
>>> sig = Signer(priv).sign(b"hello")
>>> Verifier(pub).verify(b"hello", sig)
True
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from mirrorguard.errors import ConfigError, IntegrityError


def generate_keypair() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    """A fresh Ed25519 key pair."""
    priv = Ed25519PrivateKey.generate()
    return priv, priv.public_key()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: Ed25519PublicKey) -> str:
    """sha256 of the raw public key, hex (safe to print and to store in manifests)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _resolve(ref: str) -> bytes:
    kind, _, value = ref.partition(":")
    if kind == "env":
        data = os.environ.get(value)
        if not data:
            raise ConfigError(f"key reference {ref!r}: environment variable is not set")
        return data.encode()
    if kind == "file":
        try:
            return Path(value).read_bytes()
        except OSError as exc:
            raise ConfigError(f"key reference {ref!r}: {exc.strerror}") from exc
    raise ConfigError(f"key reference {ref!r} must start with 'env:' or 'file:'")


def load_private_key(ref: str) -> Ed25519PrivateKey:
    """Load a private key from ``env:NAME`` or ``file:PATH``."""
    data = _resolve(ref).strip()
    try:
        if data.startswith(b"-----"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data.decode()))
    except ValueError as exc:
        raise ConfigError(f"key reference {ref!r} does not hold an Ed25519 private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"key reference {ref!r} is not an Ed25519 key")
    return key


def load_public_key(ref: str) -> Ed25519PublicKey:
    """Load a public key from ``env:NAME`` or ``file:PATH`` (PEM or raw hex)."""
    data = _resolve(ref).strip()
    try:
        if data.startswith(b"-----"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(data.decode()))
    except ValueError as exc:
        raise ConfigError(f"key reference {ref!r} does not hold an Ed25519 public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"key reference {ref!r} is not an Ed25519 key")
    return key


class Signer:
    """Signs bytes with a private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()
        self.key_id = fingerprint(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def __repr__(self) -> str:  # never show key material
        return f"Signer(key_id={self.key_id[:16]}…)"


class Verifier:
    """Verifies signatures with a public key."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.key_id = fingerprint(key)

    def public_hex(self) -> str:
        """The raw public key as hex (what :func:`load_public_key` also accepts)."""
        return self._key.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw).hex()

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True when valid; raises :class:`IntegrityError` when not."""
        try:
            self._key.verify(signature, data)
        except InvalidSignature as exc:
            raise IntegrityError(
                f"signature does not verify with key {self.key_id[:16]}…"
            ) from exc
        return True
