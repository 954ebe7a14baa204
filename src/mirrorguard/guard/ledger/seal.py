"""Seals: signed Merkle roots over consecutive ranges of ledger entries.

A seal commits to entries ``first_seq..last_seq`` with the RFC 6962 Merkle root of their entry
hashes, repeats the last entry's hash (so the chain can be checked across a seal boundary
without reading the previous range), and links to the previous seal's hash, so seals form a
chain of their own. It is signed with Ed25519 (:mod:`mirrorguard.guard.keys`) over::

    b"mirrorguard-ledger-seal-v1\\n" + canonical JSON of every field except the signature

>>> from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
>>> priv, pub = generate_keypair()
>>> s = make_seal(Signer(priv), ledger_id="demo", seal_no=0, first_seq=0, last_seq=9,
...               root="ab" * 32, last_hash="cd" * 32, prev_seal_hash=genesis_seal_hash("demo"))
>>> signature_problem(s, trusted_keys([Verifier(pub)])) is None
True
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from mirrorguard.errors import IntegrityError
from mirrorguard.guard.keys import Signer, Verifier
from mirrorguard.guard.ledger.base import LedgerError
from mirrorguard.guard.ledger.encoding import HEX64, format_time

SEAL_TAG = b"mirrorguard-ledger-seal-v1\n"
_INT_FIELDS = ("seal_no", "first_seq", "last_seq")
_HEX_FIELDS = ("root", "last_hash", "prev_seal_hash", "key_id")
_SIG_RE = re.compile(r"^[0-9a-f]{128}$")


@dataclass(frozen=True)
class Seal:
    """A signed commitment to entries ``first_seq..last_seq`` (hex strings throughout)."""

    ledger_id: str
    seal_no: int
    first_seq: int
    last_seq: int
    root: str
    last_hash: str
    prev_seal_hash: str
    key_id: str
    time: str
    signature: str

    @property
    def size(self) -> int:
        return self.last_seq - self.first_seq + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Seal:
        """Strict parse: exact keys and types, else :class:`LedgerError`."""
        names = set(cls.__dataclass_fields__)
        if not isinstance(data, Mapping) or set(data) != names:
            raise LedgerError("seal record does not have exactly the seal fields")
        for name in names:
            want = int if name in _INT_FIELDS else str
            value = data[name]
            if type(value) is not want:
                raise LedgerError(f"seal field {name!r} must be {want.__name__}")
        for name in _HEX_FIELDS:
            if not HEX64.match(data[name]):
                raise LedgerError(f"seal field {name!r} is not a 64-digit hex hash")
        if not _SIG_RE.match(data["signature"]):
            # upper-case digits would decode to the same bytes: a flipped bit must not pass
            raise LedgerError("seal signature is not 128 lower-case hex digits")
        return cls(**dict(data))


def genesis_seal_hash(ledger_id: str) -> str:
    """The ``prev_seal_hash`` of seal 0."""
    return hashlib.sha256(b"mirrorguard-ledger-genesis-seal|" + ledger_id.encode()).hexdigest()


def seal_message(seal: Seal) -> bytes:
    """The bytes that are signed: every field except the signature, canonical JSON."""
    body = seal.to_dict()
    del body["signature"]
    return SEAL_TAG + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def seal_hash(seal: Seal) -> str:
    """Hash of the signed seal (message and signature), what the next seal links to."""
    try:
        sig = bytes.fromhex(seal.signature)
    except ValueError:
        sig = seal.signature.encode()
    return hashlib.sha256(seal_message(seal) + sig).hexdigest()


def make_seal(
    signer: Signer,
    *,
    ledger_id: str,
    seal_no: int,
    first_seq: int,
    last_seq: int,
    root: str,
    last_hash: str,
    prev_seal_hash: str,
    time: datetime | None = None,
) -> Seal:
    """Build and sign a seal."""
    unsigned = Seal(
        ledger_id=ledger_id, seal_no=seal_no, first_seq=first_seq, last_seq=last_seq,
        root=root, last_hash=last_hash, prev_seal_hash=prev_seal_hash, key_id=signer.key_id,
        time=format_time(time or datetime.now(UTC)), signature="",
    )
    return replace(unsigned, signature=signer.sign(seal_message(unsigned)).hex())


def trusted_keys(verifiers: Sequence[Verifier]) -> dict[str, Verifier]:
    """Key id -> verifier, for :func:`signature_problem`."""
    return {v.key_id: v for v in verifiers}


def signature_problem(seal: Seal, keys: Mapping[str, Verifier]) -> str | None:
    """``None`` when the seal is signed by a trusted key, else why not.

    Returns ``"unknown_signer"`` when its key id is not trusted and ``"bad_signature"`` when
    the signature does not verify with the trusted key it names.
    """
    verifier = keys.get(seal.key_id)
    if verifier is None:
        return "unknown_signer"
    try:
        verifier.verify(seal_message(seal), bytes.fromhex(seal.signature))
    except (IntegrityError, ValueError):
        return "bad_signature"
    return None
