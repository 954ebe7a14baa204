"""Merkle tree hashes and audit paths as in Certificate Transparency (RFC 6962 / RFC 9162).

Leaves are already leaf hashes (``SHA-256(0x00 || data)``; a ledger entry hash is one); inner
nodes are ``SHA-256(0x01 || left || right)``. The tree over ``n`` leaves is RFC 6962's
left-balanced tree: built bottom-up, an unpaired last node is carried up a level unchanged,
which gives the same root as the recursive definition that splits at the largest power of two
below ``n``. Audit-path verification follows RFC 9162 §2.1.3.2.

>>> import hashlib
>>> leaves = [hashlib.sha256(b"\\x00" + bytes([i])).digest() for i in range(5)]
>>> r = root(leaves)
>>> all(verify_path(leaves[i], i, 5, audit_path(leaves, i), r) for i in range(5))
True
>>> verify_path(leaves[1], 2, 5, audit_path(leaves, 2), r)
False
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    it = iter(level)
    up = [sha(_NODE + left + right).digest() for left, right in zip(it, it, strict=False)]
    if len(level) % 2:
        up.append(level[-1])
    return up


def node_hash(left: bytes, right: bytes) -> bytes:
    """An inner node's hash."""
    return hashlib.sha256(_NODE + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash of leaf hashes (RFC 6962 MTH); the empty tree hashes to SHA-256('')."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def audit_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` up to the root (RFC 6962 PATH(m, D[n]))."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} outside a tree of {len(leaves)}")
    path: list[bytes] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = _next_level(level)
        index >>= 1
    return path


def verify_path(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """True when ``path`` proves leaf ``index`` of a ``size``-leaf tree hashes to the root."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
