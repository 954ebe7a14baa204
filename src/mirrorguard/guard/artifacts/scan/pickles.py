"""Whole pickle files: plain pickles, joblib streams and legacy (non-zip) PyTorch files.

* **joblib** writes each NumPy array as a ``NumpyArrayWrapper`` whose ``BUILD`` is followed by
  the raw array bytes (after one padding-length byte and the padding), or, for object arrays, by
  a nested pickle. The walker skips exactly the bytes joblib would read and simulates nested
  pickles, so nothing hides in the "array" region and nothing benign is mistaken for trailing data.
* **legacy PyTorch** (``torch.save(..., _use_new_zipfile_serialization=False)``) is five pickles —
  magic number, protocol version, system info, the object, storage keys — then raw storage bytes.
* anything after ``STOP`` in a plain pickle is a finding, and the data there is scanned as
  further pickles (``pickle.load`` called twice reads it).

>>> import pickle
>>> scan_pickle_stream(pickle.dumps([1, 2, 3])).events
[]
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from mirrorguard.guard.artifacts.scan.report import Severity
from mirrorguard.guard.artifacts.scan.values import Call, GlobalRef, SimDict
from mirrorguard.guard.artifacts.scan.vm import Event, Malformed, PickleMachine

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_TRAILING_PICKLES = 16
# first bytes a pickle stream can start with: PROTO, or a protocol 0/1 opcode that pushes
PICKLE_START = frozenset(b"\x80(cdl]})ItSVNFKJMXUTG")


@dataclass
class StreamResult:
    """Findings of a pickle stream, the protocol of its first pickle and where it ended."""

    events: list[Event] = field(default_factory=list)
    proto: int = 0
    end: int = 0
    pickles: int = 0


def _dtype_info(value: object) -> tuple[int, bool] | None:
    """(itemsize, has_object) of a simulated ``numpy.dtype(...)`` call, or ``None``."""
    if not (isinstance(value, Call) and isinstance(value.func, GlobalRef)
            and value.func.name == "dtype" and value.func.module == "numpy"):
        return None
    args = value.args
    if not (isinstance(args, tuple) and args and isinstance(args[0], str)):
        return None
    try:
        dtype = np.dtype(args[0])
    except (TypeError, ValueError):
        return None
    itemsize, has_object = dtype.itemsize, dtype.hasobject
    state = value.state
    if isinstance(state, tuple) and len(state) >= 6:
        if dtype.kind == "V" and isinstance(state[5], int) and state[5] > 0:
            itemsize = state[5]
        if isinstance(state[4], SimDict):
            for _name, spec in state[4].pairs:
                sub = _dtype_info(spec[0]) if isinstance(spec, tuple) and spec else None
                has_object = has_object or sub is None or sub[1]
    return itemsize, has_object


def _shape_count(shape: object) -> int | None:
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    count = 1
    for dim in shape:
        count *= dim
    return count


def joblib_array_hook(machine: PickleMachine, wrapper: Call) -> None:
    """Skip (or simulate, for object arrays) the array data joblib writes after a wrapper."""
    state = wrapper.state
    if not isinstance(state, SimDict):
        raise Malformed("NumpyArrayWrapper without a state dict")
    info = _dtype_info(state.get("dtype"))
    count = _shape_count(state.get("shape"))
    if info is None or count is None:
        machine.emit(Severity.HIGH, "malformed",
                     "joblib array wrapper whose dtype/shape cannot be resolved statically")
        raise Malformed("unresolvable joblib array")
    itemsize, has_object = info
    if has_object:
        machine.nested()
        return
    buf = machine.buf
    if state.get("numpy_array_alignment_bytes") is not None:
        pad = buf.read(1)
        buf.seek(pad[0] if pad else 0, io.SEEK_CUR)
    size = count * itemsize
    if buf.tell() + size > len(buf.getbuffer()):
        raise Malformed("joblib array data truncated")
    buf.seek(size, io.SEEK_CUR)


def _run(buf: io.BytesIO, persistent: str) -> tuple[list[Event], int, bool, object, int]:
    machine = PickleMachine(buf, persistent=persistent, build_hook=joblib_array_hook)
    sim = machine.run()
    return sim.events, sim.proto, sim.complete, sim.result, sim.end


def _torch_legacy(buf: io.BytesIO, result: StreamResult) -> None:
    """Simulate the four pickles after a legacy PyTorch magic number; storage bytes follow."""
    for _ in range(4):
        events, _proto, complete, _res, end = _run(buf, "torch")
        result.events.extend(events)
        result.pickles += 1
        result.end = end
        if not complete:
            return


def _trailing(buf: io.BytesIO, result: StreamResult, persistent: str) -> None:
    """Report data after STOP and simulate any further pickles found there."""
    total = len(buf.getbuffer())
    result.events.append(Event(
        Severity.MEDIUM, "trailing_data",
        f"{total - result.end} bytes after the first pickle's STOP", None, "STOP", result.end))
    for _ in range(MAX_TRAILING_PICKLES):
        if buf.tell() >= total or buf.getbuffer()[buf.tell()] not in PICKLE_START:
            return
        events, _proto, complete, _res, end = _run(buf, persistent)
        result.events.extend(events)
        result.pickles += 1
        result.end = end
        if not complete:
            return


def scan_pickle_stream(data: bytes, *, persistent: str = "none",
                       leading_only: bool = False) -> StreamResult:
    """Simulate a pickle file: the first pickle, then joblib data, legacy torch or trailing data.

    ``leading_only`` is for members whose pickle is followed by raw data by design (the
    ``storages`` member of PyTorch's legacy tar format).
    """
    buf = io.BytesIO(data)
    events, proto, complete, value, end = _run(buf, persistent)
    result = StreamResult(events=events, proto=proto, end=end, pickles=1)
    if not complete or leading_only:
        return result
    if value == TORCH_LEGACY_MAGIC and not events:
        _torch_legacy(buf, result)
        return result
    if end < len(data):
        _trailing(buf, result, persistent)
    return result
