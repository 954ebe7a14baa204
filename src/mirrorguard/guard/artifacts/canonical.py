"""Canonical JSON, digests and data fingerprints: the byte-exact pieces that get signed.

Canonical JSON here is ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
ensure_ascii=True, allow_nan=False)``: one byte string per value, so a signature over it is a
signature over the value (the approach of RFC 8785 restricted to what our manifests hold:
strings, integers, finite floats, booleans, null, lists and objects).

>>> canonical_json({"b": 1, "a": [True, None, "é"]})
b'{"a":[true,null,"\\\\u00e9"],"b":1}'
>>> sha256_hex(b"abc")[:16]
'ba7816bf8f01cfea'
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mirrorguard.errors import IntegrityError

_CHUNK = 1 << 20


def check_json_value(value: Any, where: str = "value") -> None:
    """Raise :class:`IntegrityError` unless ``value`` is plain JSON (no NaN/inf, str keys).

    >>> check_json_value({"a": [1, 2.5, None]})
    >>> check_json_value({"a": float("nan")})
    Traceback (most recent call last):
    ...
    mirrorguard.errors.IntegrityError: value.a: not a finite number
    """
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise IntegrityError(f"{where}: not a finite number")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_json_value(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise IntegrityError(f"{where}: key {key!r} is not a string")
            check_json_value(item, f"{where}.{key}")
        return
    raise IntegrityError(f"{where}: {type(value).__name__} is not JSON (str/int/float/bool/None)")


def finite_json(value: Any) -> Any:
    """A JSON-able copy: NaN and infinities become ``null``, NumPy scalars plain numbers
    (reports carry NaN p-values; :func:`check_json_value` refuses non-finite floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """The canonical byte form of a JSON value (sorted keys, no spaces, ASCII, no NaN)."""
    check_json_value(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def sha256_hex(data: bytes) -> str:
    """sha256 of bytes, lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@dataclass(frozen=True)
class DataFingerprint:
    """What a model was trained on: a content digest plus its shape.

    ``sha256`` is computed by :func:`fingerprint_frame`, :func:`fingerprint_arrays` or
    :func:`fingerprint_files`; ``source`` says which and describes the data in words.
    """

    sha256: str
    rows: int
    columns: tuple[str, ...] = ()
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256, "rows": self.rows,
            "columns": list(self.columns), "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataFingerprint:
        return cls(
            sha256=str(data["sha256"]), rows=int(data["rows"]),
            columns=tuple(str(c) for c in data.get("columns", [])),
            source=str(data.get("source", "")),
        )


def _series_bytes(s: pl.Series) -> bytes:
    """A deterministic byte image of one column (values and null mask)."""
    parts = [s.is_null().to_numpy().astype(np.uint8).tobytes()] if s.null_count() else []
    dtype = s.dtype
    if dtype.is_numeric() or dtype == pl.Boolean or dtype.is_temporal():
        phys = s.to_physical()
        if phys.dtype == pl.Boolean:
            phys = phys.cast(pl.UInt8)
        arr = phys.fill_null(0).to_numpy()
        parts.append(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())
    elif dtype.is_nested():
        parts.append(pl.DataFrame({"v": s}).write_ndjson().encode("utf-8"))
    else:
        text = s.cast(pl.String).fill_null("")
        parts.append(text.str.len_bytes().to_numpy().astype("<u4").tobytes())
        parts.append("".join(text.to_list()).encode("utf-8"))
    return b"".join(parts)


def fingerprint_frame(df: pl.DataFrame, source: str = "polars frame") -> DataFingerprint:
    """Fingerprint a training frame: column names, dtypes, null masks and values, in order.

    >>> fp = fingerprint_frame(pl.DataFrame({"x": [1.0, 2.0], "u": ["a", None]}))
    >>> fp.rows, fp.columns
    (2, ('x', 'u'))
    >>> fp == fingerprint_frame(pl.DataFrame({"x": [1.0, 2.0], "u": ["a", None]}))
    True
    """
    h = hashlib.sha256(b"mirrorguard.frame/v1\x00")
    for name in df.columns:
        s = df.get_column(name)
        body = _series_bytes(s)
        head = canonical_json([name, str(s.dtype), len(body)])
        h.update(len(head).to_bytes(8, "little") + head + body)
    return DataFingerprint(h.hexdigest(), df.height, tuple(df.columns), source)


def fingerprint_arrays(arrays: dict[str, np.ndarray], source: str = "arrays") -> DataFingerprint:
    """Fingerprint named NumPy arrays (dtype, shape and C-order bytes of each).

    >>> fingerprint_arrays({"X": np.zeros((3, 2))}).rows
    3
    """
    h = hashlib.sha256(b"mirrorguard.arrays/v1\x00")
    rows = 0
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        if arr.dtype.hasobject:
            raise IntegrityError(f"array {name!r} has object dtype; cannot fingerprint safely")
        head = canonical_json([name, arr.dtype.str, list(arr.shape)])
        h.update(len(head).to_bytes(8, "little") + head + arr.tobytes())
        rows = max(rows, arr.shape[0] if arr.ndim else 1)
    return DataFingerprint(h.hexdigest(), rows, tuple(sorted(arrays)), source)


def fingerprint_files(paths: Iterable[Path], source: str = "files") -> DataFingerprint:
    """Fingerprint input files (by base name, size and sha256), e.g. the ingested logs."""
    entries: list[tuple[str, int, str]] = []
    for path in sorted(paths, key=lambda p: p.name):
        digest, size = sha256_file(path)
        entries.append((path.name, size, digest))
    return DataFingerprint(
        sha256_hex(canonical_json([list(e) for e in entries])), len(entries),
        tuple(e[0] for e in entries), source,
    )
