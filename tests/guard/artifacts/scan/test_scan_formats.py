"""Format sniffing, .npy headers and bounded decompression."""

from __future__ import annotations

import gzip
import io
import lzma
import zlib

import numpy as np
import pytest

from mirrorguard.errors import FormatError
from mirrorguard.guard.artifacts.scan.formats import decompress, parse_npy_header, sniff


@pytest.mark.parametrize(("head", "fmt"), [
    (b"\x93NUMPY\x01\x00", "npy"), (b"\x89HDF\r\n\x1a\n", "hdf5"), (b"PK\x03\x04", "zip"),
    (gzip.compress(b"x")[:4], "gzip"), (b"BZh9", "bz2"), (lzma.compress(b"x")[:6], "xz"),
    (lzma.compress(b"x", format=lzma.FORMAT_ALONE)[:4], "lzma"), (zlib.compress(b"x")[:2], "zlib"),
    (b"\x80\x05", "pickle"), (b"cos\nsystem\n", "pickle"), (b"(lp0\n", "pickle"),
    (b"#!/bin/sh", None),
])
def test_sniff(head: bytes, fmt: str | None) -> None:
    assert sniff(head) == fmt


def test_sniff_onnx_by_name() -> None:
    assert sniff(b"\x08\x07", "m.onnx") == "onnx"


@pytest.mark.parametrize("arr", [np.zeros((3, 4)), np.arange(5, dtype=">i4"),
                                 np.zeros(2, dtype=[("a", "<i8"), ("b", "<f4")])])
def test_npy_header_matches_numpy(arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    header = parse_npy_header(buf.getvalue())
    assert header.shape == arr.shape and header.dtype == arr.dtype
    assert header.data_offset + header.nbytes == len(buf.getvalue())


def test_npy_header_rejects_code() -> None:
    text = b"{'descr': __import__('os').system('id'), 'fortran_order': False, 'shape': ()}"
    data = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
    with pytest.raises(FormatError):
        parse_npy_header(data)


def test_decompress_refuses_bombs() -> None:
    bomb = zlib.compress(b"\x00" * 1_000_000)
    assert len(decompress("zlib", bomb, 2_000_000)) == 1_000_000
    with pytest.raises(FormatError, match="bomb"):
        decompress("zlib", bomb, 1000)


def test_decompress_corrupt_stream() -> None:
    with pytest.raises(FormatError):
        decompress("gzip", b"\x1f\x8b\x08\x00garbage", 100)
