from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrorguard.guard.ledger import merkle


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest()


def rfc6962_mth(leaves: list[bytes]) -> bytes:
    """The recursive definition of RFC 6962 §2.1 (reference for the bottom-up builder)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + rfc6962_mth(leaves[:k]) + rfc6962_mth(leaves[k:])).digest()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 64, 100])
def test_root_matches_rfc6962_recursive_definition(n: int) -> None:
    leaves = [leaf(i) for i in range(n)]
    assert merkle.root(leaves) == rfc6962_mth(leaves)


def test_known_two_leaf_root() -> None:
    a, b = leaf(0), leaf(1)
    assert merkle.root([a, b]) == hashlib.sha256(b"\x01" + a + b).digest()


@given(st.integers(1, 130), st.data())
def test_every_audit_path_verifies_and_wrong_ones_do_not(n: int, data: st.DataObject) -> None:
    leaves = [leaf(i) for i in range(n)]
    r = merkle.root(leaves)
    i = data.draw(st.integers(0, n - 1))
    path = merkle.audit_path(leaves, i)
    assert merkle.verify_path(leaves[i], i, n, path, r)
    assert not merkle.verify_path(leaf(10_000), i, n, path, r)
    if n > 1:
        j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i))
        assert not merkle.verify_path(leaves[i], j, n, path, r)
    if path:
        bad = [*path[:-1], leaf(99_999)]
        assert not merkle.verify_path(leaves[i], i, n, bad, r)


def test_audit_path_out_of_range() -> None:
    with pytest.raises(IndexError):
        merkle.audit_path([leaf(0)], 1)
    assert not merkle.verify_path(leaf(0), 1, 1, [], leaf(0))


def test_leaf_and_node_domains_are_separated() -> None:
    # a node over (a, b) can never equal a leaf hash whose data is a||b
    a, b = leaf(0), leaf(1)
    assert merkle.node_hash(a, b) != hashlib.sha256(b"\x00" + a + b).digest()
