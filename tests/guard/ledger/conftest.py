"""Shared fixtures for ledger tests: keys and small sealed ledgers on both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tests.guard.ledger.ledger_helpers import make_backend, records

from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
from mirrorguard.guard.ledger import Ledger, LedgerBackend

_PRIV, _PUB = generate_keypair()


@pytest.fixture(scope="session")
def keys() -> tuple[Signer, Verifier]:
    return Signer(_PRIV), Verifier(_PUB)


@pytest.fixture(scope="session")
def public_key() -> Ed25519PublicKey:
    return _PUB


@pytest.fixture(scope="session")
def foreign() -> Signer:
    return Signer(generate_keypair()[0])


@pytest.fixture(params=["duckdb", "jsonl"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sealed(
    backend_kind: str, tmp_path: Path, keys: tuple[Signer, Verifier]
) -> Callable[[int, int], LedgerBackend]:
    """Factory: a ledger of n entries sealed every ``every`` (last partial range sealed too)."""

    def build(n: int = 50, every: int = 10) -> LedgerBackend:
        backend = make_backend(backend_kind, tmp_path)
        ledger = Ledger(backend, signer=keys[0], seal_every=every, flush_every=7)
        ledger.append_many(records(n))
        ledger.seal()
        return backend

    return build
