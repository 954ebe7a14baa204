"""Recognising model file formats by content, and reading the simple ones (NumPy, compression).

Formats are recognised by their first bytes, never by the file name alone: ``numpy.load`` and
``torch.load`` decide by content too, so a renamed pickle must still be scanned as one.

>>> sniff(b"\\x93NUMPY\\x01\\x00")
'npy'
>>> sniff(b"\\x80\\x04\\x95")
'pickle'
>>> sniff(b"hello world")
"""

from __future__ import annotations

import ast
import bz2
import lzma
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from mirrorguard.errors import FormatError
from mirrorguard.guard.artifacts.scan.pickles import PICKLE_START

NPY_MAGIC = b"\x93NUMPY"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
MODEL_SUFFIXES = frozenset((
    ".pkl", ".pickle", ".pck", ".pcl", ".p", ".joblib", ".jbl", ".dat", ".pt", ".pth", ".bin",
    ".ckpt", ".mar", ".npy", ".npz", ".h5", ".hdf5", ".keras", ".onnx", ".model", ".sav", ".z",
    ".gz", ".bz2", ".xz", ".lzma",
))


def _is_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and ((head[0] << 8) | head[1]) % 31 == 0


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def sniff(head: bytes, name: str = "") -> str | None:
    """The format of a file from its first bytes (and ``.onnx`` by name): or ``None``."""
    checks: tuple[tuple[str, bool], ...] = (
        ("npy", head.startswith(NPY_MAGIC)),
        ("hdf5", head.startswith(HDF5_MAGIC)),
        ("zip", head.startswith(ZIP_MAGICS)),
        ("gzip", head.startswith(b"\x1f\x8b")),
        ("bz2", head.startswith(b"BZh")),
        ("xz", head.startswith(b"\xfd7zXZ\x00")),
        ("lzma", head.startswith(b"\x5d\x00\x00")),
        ("zlib", _is_zlib(head)),
        ("tar", _is_tar(head)),
        ("onnx", name.lower().endswith(".onnx")),
        ("pickle", bool(head) and head[0] in PICKLE_START),
    )
    for fmt, hit in checks:
        if hit:
            return fmt
    return None


def decompress(fmt: str, data: bytes, limit: int) -> bytes:
    """Decompress a whole gzip/bz2/xz/lzma/zlib stream, refusing output beyond ``limit`` bytes."""
    decoder: Any
    if fmt == "gzip":
        decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    elif fmt == "zlib":
        decoder = zlib.decompressobj()
    elif fmt == "bz2":
        decoder = bz2.BZ2Decompressor()
    else:
        decoder = lzma.LZMADecompressor(format=lzma.FORMAT_XZ if fmt == "xz" else lzma.FORMAT_ALONE)
    try:
        out = decoder.decompress(data, limit + 1)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
        raise FormatError(f"corrupt {fmt} stream: {exc}") from exc
    if len(out) > limit:
        raise FormatError(f"{fmt} stream decompresses beyond {limit} bytes (decompression bomb?)")
    if not decoder.eof:
        raise FormatError(f"truncated {fmt} stream")
    return bytes(out)


@dataclass(frozen=True)
class NpyHeader:
    """The parsed header of a ``.npy`` file and where its data starts."""

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int

    @property
    def nbytes(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count * self.dtype.itemsize


def parse_npy_header(data: bytes) -> NpyHeader:
    """Parse a NumPy ``.npy`` header (format versions 1-3) without executing anything.

    The header is a Python literal, read with :func:`ast.literal_eval` as ``numpy.lib.format``
    does. Raises :class:`FormatError` when it is malformed.

    >>> import io, numpy as np
    >>> buf = io.BytesIO(); np.save(buf, np.zeros((2, 3)))
    >>> h = parse_npy_header(buf.getvalue()); (h.shape, str(h.dtype), h.nbytes)
    ((2, 3), 'float64', 48)
    """
    if not data.startswith(NPY_MAGIC) or len(data) < 10:
        raise FormatError("not a .npy file")
    major = data[6]
    size_len = 2 if major == 1 else 4
    hlen = int.from_bytes(data[8:8 + size_len], "little")
    start = 8 + size_len
    raw = data[start:start + hlen]
    if len(raw) != hlen:
        raise FormatError(".npy header truncated")
    try:
        header = ast.literal_eval(raw.decode("utf-8" if major >= 3 else "latin1"))
        dtype = np.dtype(header["descr"])
        shape = tuple(int(d) for d in header["shape"])
        fortran = bool(header["fortran_order"])
    except (ValueError, SyntaxError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise FormatError(f"bad .npy header: {exc}") from exc
    if any(d < 0 for d in shape):
        raise FormatError("negative dimension in .npy header")
    return NpyHeader(dtype, shape, fortran, start + hlen)


def read_head(stream: BinaryIO, size: int = 4096) -> bytes:
    """The first ``size`` bytes of a stream, leaving its position at the start."""
    head = stream.read(size)
    stream.seek(0)
    return head
