"""Counting bytes and byte pairs in large blocks with NumPy instead of ``bytes.count``.

Line-oriented parsers scan every block several times (line counts, the key
count that tells the Zeek JSON fast path it dropped nothing). ``bytes.count`` of a two-byte
pattern runs at ~0.8 GB/s here, ~20 ms per 16 MiB block, and holds the GIL; these run 2-5x
faster and NumPy releases the GIL while it scans, so the store thread keeps working.

A byte pair is counted as a ``uint16`` in two views of the block, one starting at an even
offset and one at an odd offset: every adjacent pair of the block is aligned in exactly one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_Buffer = bytes | bytearray | memoryview


def _u8(block: _Buffer) -> npt.NDArray[np.uint8]:
    return np.frombuffer(block, dtype=np.uint8)


def count_byte(block: _Buffer, value: int) -> int:
    """How many times the byte ``value`` occurs in ``block``."""
    return int(np.count_nonzero(_u8(block) == value))


def _pair_views(block: _Buffer) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    n = len(block)
    even = np.frombuffer(block, dtype="<u2", count=n // 2)
    odd = np.frombuffer(block, dtype="<u2", count=max(n - 1, 0) // 2, offset=1 if n else 0)
    return even, odd


def _code(pair: bytes) -> int:
    if len(pair) != 2:
        raise ValueError(f"a pair is two bytes, not {len(pair)}")
    return pair[0] | (pair[1] << 8)


def count_pair(block: _Buffer, pair: bytes) -> int:
    """How many times the two bytes ``pair`` occur adjacent in ``block`` (overlaps included)."""
    even, odd = _pair_views(block)
    code = _code(pair)
    return int(np.count_nonzero(even == code) + np.count_nonzero(odd == code))


def count_followed(block: _Buffer, pair: bytes, third: int) -> int:
    """How many times ``pair`` is directly followed by the byte ``third``.

    In each aligned view, a pair at element ``i`` is followed by the low byte of element
    ``i + 1``; the view's last pair is checked on its own (its third byte may lie outside).
    """
    code = _code(pair)
    total = 0
    for view, start in zip(_pair_views(block), (0, 1), strict=True):
        if len(view) > 1:
            total += int(np.count_nonzero((view[:-1] == code) & ((view[1:] & 0xFF) == third)))
        if len(view):
            off = start + 2 * (len(view) - 1)
            if off + 2 < len(block) and block[off : off + 2] == pair and block[off + 2] == third:
                total += 1
    return total
