"""Container writers shared by the malicious and benign corpus: PyTorch zip/legacy, npy, joblib.

The layouts follow what the real libraries write (``torch.save`` zip and legacy formats,
``numpy.lib.format`` version 1.0, joblib's ``NumpyArrayWrapper`` stream), written by hand so that
neither torch nor any malicious object is needed.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile

from pickle_asm import Asm

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def torch_zip(data_pkl: bytes, storages: dict[str, bytes], prefix: str = "archive",
              extra: dict[str, bytes] | None = None) -> bytes:
    """A ``torch.save`` zip: ``data.pkl``, raw storages under ``data/``, version markers."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", data_pkl)
        zf.writestr(f"{prefix}/.format_version", b"1")
        zf.writestr(f"{prefix}/.storage_alignment", b"64")
        zf.writestr(f"{prefix}/byteorder", b"little")
        for key, raw in storages.items():
            zf.writestr(f"{prefix}/data/{key}", raw)
        zf.writestr(f"{prefix}/version", b"3\n")
        zf.writestr(f"{prefix}/.data/serialization_id", b"1234567890123456789012345678901234567890")
        for name, raw in (extra or {}).items():
            zf.writestr(f"{prefix}/{name}", raw)
    return buf.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    return buf.getvalue()


def tar_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def _small_pickle(value_asm: Asm) -> bytes:
    return value_asm.stop().data


def legacy_torch(main_pickle: bytes, storage_keys: list[str], raw: bytes) -> bytes:
    """Legacy (non-zip) ``torch.save``: magic, protocol, sys_info, object, keys, storages."""
    magic = Asm().proto(2).raw(b"\x8a\x0a" + TORCH_LEGACY_MAGIC.to_bytes(10, "little")).stop()
    version = Asm().proto(2).raw(b"M\xe9\x03").stop()  # 1001
    sys_info = (Asm().proto(2).empty_dict().mark()
                .text("protocol_version").raw(b"M\xe9\x03")
                .text("little_endian").raw(b"\x88")
                .setitems().stop())
    keys = Asm().proto(2).empty_list().mark()
    for key in storage_keys:
        keys.text(key)
    keys.appends().stop()
    body = b"".join(struct.pack("<q", len(raw) // 4) + raw for _ in storage_keys)
    return magic.data + version.data + sys_info.data + main_pickle + keys.data + body


def npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    """A version 1.0 ``.npy`` header, padded to 64 bytes as ``numpy.lib.format`` does."""
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    header = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def numpy_dtype(asm: Asm, code: str) -> Asm:
    """Push ``numpy.dtype(code)`` with its BUILD state, as numpy pickles a dtype."""
    asm.glob("numpy", "dtype").mark().text(code).false().raw(b"\x88").tuple_().reduce()
    asm.mark().int_(3).text("<" if code != "O8" else "|").none().none().none()
    return asm.int_(-1).int_(-1).int_(0 if code != "O8" else 63).tuple_().build()


def joblib_wrapper(asm: Asm, code: str, shape: tuple[int, ...], align: bool = True) -> Asm:
    """Push a joblib ``NumpyArrayWrapper`` (NEWOBJ + state dict + BUILD); data must follow."""
    asm.glob("joblib.numpy_pickle", "NumpyArrayWrapper").empty_tuple().newobj()
    asm.empty_dict().mark().text("subclass").glob("numpy", "ndarray").text("shape").mark()
    for dim in shape:
        asm.int_(dim)
    asm.tuple_().text("order").text("C").text("dtype")
    numpy_dtype(asm, code).text("allow_mmap").false()
    if align:
        asm.text("numpy_array_alignment_bytes").int_(16)
    return asm.setitems().build()


def joblib_padding(prefix_len: int) -> bytes:
    """The padding-length byte and padding joblib writes before array data (16-byte aligned)."""
    pad = 16 - ((prefix_len + 1) % 16)
    return bytes([pad]) + b"\xff" * pad
