"""The simulated pickle machine: exact globals, stack/memo semantics, malformed streams."""

from __future__ import annotations

import collections
import pickle
import pickletools

import numpy as np
import pytest

from mirrorguard.guard.artifacts.scan.report import Severity
from mirrorguard.guard.artifacts.scan.values import Call, GlobalRef, SimDict, SimList
from mirrorguard.guard.artifacts.scan.vm import simulate

BENIGN = [
    {"a": [1, 2.5, "x", b"y", None, True]},
    collections.OrderedDict(w=np.arange(6, dtype=np.float32).reshape(2, 3)),
    {1, 2, frozenset({3})},
    (complex(1, 2), slice(1, 5), bytearray(b"ab")),
    np.float64(3.5),
]


@pytest.mark.parametrize("proto", range(6))
@pytest.mark.parametrize("obj", BENIGN, ids=[type(o).__name__ for o in BENIGN])
def test_benign_objects_every_protocol(obj: object, proto: int) -> None:
    sim = simulate(pickle.dumps(obj, protocol=proto))
    assert sim.complete and sim.events == []


def test_simulated_values_mirror_the_stream() -> None:
    sim = simulate(pickle.dumps({"k": [1, 2]}, protocol=2))
    assert isinstance(sim.result, SimDict)
    value = sim.result.get("k")
    assert isinstance(value, SimList) and value.items == [1, 2]


def test_protocol_and_end_offset() -> None:
    data = pickle.dumps([1], protocol=4)
    sim = simulate(data + b"junk")
    assert sim.proto == 4 and sim.end == len(data)


def test_global_offset_matches_pickletools() -> None:
    data = b"\x80\x02cos\nsystem\nq\x00."
    sim = simulate(data)
    offset = next(pos for op, _a, pos in pickletools.genops(data) if op.name == "GLOBAL")
    assert [(e.global_name, e.offset, e.severity) for e in sim.events] == [
        ("os.system", offset, Severity.CRITICAL)]


def test_stack_global_needs_literal_strings() -> None:
    # module name produced by a call: dynamic import
    data = b"\x80\x04c_codecs\nencode\n\x8c\x02os\x8c\x06latin1\x86R\x8c\x06system\x93."
    kinds = [(e.kind, e.severity) for e in simulate(data).events]
    assert ("import", Severity.CRITICAL) in kinds


def test_memo_get_before_put_is_malformed() -> None:
    events = simulate(b"\x80\x02h\x05.").events
    assert [e.kind for e in events] == ["malformed"]


def test_truncated_stream_is_malformed() -> None:
    events = simulate(pickle.dumps([1, 2, 3], protocol=2)[:-3]).events
    assert events and events[-1].kind == "malformed"


def test_stack_underflow_is_malformed() -> None:
    assert [e.kind for e in simulate(b"R.").events] == ["malformed"]


def test_calls_record_their_arguments() -> None:
    sim = simulate(b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85R.")
    assert isinstance(sim.result, Call)
    assert isinstance(sim.result.func, GlobalRef) and sim.result.args == ("f8",)
    assert sim.events == []


def test_mutation_of_a_global_calls_its_methods() -> None:
    data = b"\x80\x02cos\nenviron\nX\x01\x00\x00\x00kX\x01\x00\x00\x00vs."
    kinds = {e.kind for e in simulate(data).events}
    assert {"import", "call"} <= kinds
