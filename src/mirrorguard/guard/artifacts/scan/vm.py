"""A pickle machine that never runs anything: it walks opcodes and simulates stack and memo.

The opcodes come from :func:`pickletools.genops`; the stack, the metastack (``MARK``) and the memo
are simulated as :mod:`pickle`'s own unpickler keeps them, so that every ``GLOBAL``,
``STACK_GLOBAL`` and ``INST`` resolves to the exact ``module.name`` the real unpickler would
import, however the strings were staged (memo ``PUT``/``GET`` games, ``DUP``/``POP``, protocol 0
text opcodes, ``FRAME``). Each import is classified by :mod:`.policy`; each call
(``REDUCE``/``NEWOBJ``/``NEWOBJ_EX``/``INST``/``OBJ``) and each ``BUILD`` is checked against the
role the allowlist gives its target. Unknown opcodes, truncation and impossible stack states are
findings too: the real unpickler would have executed everything before them.

References: the opcode reference in CPython's ``Lib/pickletools.py``; Trail of Bits, "Never a dill
moment: exploiting machine learning pickle files" (2021), for the symbolic-interpretation idea.

>>> import pickle
>>> result = simulate(pickle.dumps({"a": [1, 2]}, protocol=4))
>>> result.events
[]
>>> payload = b"cos\\nsystem\\n(S'id'\\ntR."
>>> [(e.kind, e.global_name, e.opcode) for e in simulate(payload).events]
[('import', 'os.system', 'GLOBAL'), ('call', 'os.system', 'REDUCE')]
"""

from __future__ import annotations

import io
import pickletools
from collections.abc import Callable
from dataclasses import dataclass, field

from mirrorguard.guard.artifacts.scan import checks
from mirrorguard.guard.artifacts.scan.report import Severity
from mirrorguard.guard.artifacts.scan.values import (
    Call,
    GlobalRef,
    Opaque,
    PersistentRef,
    SimDict,
    SimList,
    SimSet,
)

MAX_OPCODES = 20_000_000
MAX_NESTING = 8


class Malformed(Exception):
    """The stream is not a pickle the real unpickler would finish (impossible stack state)."""


@dataclass(frozen=True)
class Event:
    """A finding inside one pickle stream, before the path/member are attached."""

    severity: Severity
    kind: str
    detail: str
    global_name: str | None
    opcode: str | None
    offset: int | None


@dataclass
class Simulation:
    """What one simulated ``load`` saw: findings, where it stopped, the protocol, the result."""

    events: list[Event] = field(default_factory=list)
    end: int = 0
    proto: int = 0
    result: object = None
    complete: bool = False


# what to do on BUILD of a joblib NumpyArrayWrapper: given the machine and the wrapper call
BuildHook = Callable[["PickleMachine", Call], None]


class PickleMachine:
    """Simulate one pickle stream read from ``buf`` starting at its current position."""

    def __init__(self, buf: io.BytesIO, *, persistent: str = "none",
                 build_hook: BuildHook | None = None, nesting: int = 0) -> None:
        self.buf = buf
        self.persistent = persistent
        self.build_hook = build_hook
        self.nesting = nesting
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.memo: dict[int, object] = {}
        self.sim = Simulation()
        self.pos = 0
        self.op = ""
        self.start = buf.tell()

    # --- reporting ------------------------------------------------------------------------
    def emit(self, severity: Severity, kind: str, detail: str,
             global_name: str | None = None) -> None:
        self.sim.events.append(Event(severity, kind, detail, global_name, self.op, self.pos))

    # --- stack primitives -----------------------------------------------------------------
    def pop(self) -> object:
        if not self.stack:
            raise Malformed(f"{self.op} on an empty stack")
        return self.stack.pop()

    def top(self) -> object:
        if not self.stack:
            raise Malformed(f"{self.op} on an empty stack")
        return self.stack[-1]

    def pop_mark(self) -> list[object]:
        if not self.metastack:
            raise Malformed(f"{self.op} without a MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # --- the walk -------------------------------------------------------------------------
    def run(self) -> Simulation:
        """Walk until STOP (or until the stream breaks, which is a finding)."""
        count = 0
        try:
            for opcode, arg, pos in pickletools.genops(self.buf):
                self.pos, self.op = int(pos or 0), opcode.name
                count += 1
                if count > MAX_OPCODES:
                    raise Malformed("opcode budget exhausted")
                if opcode.name == "STOP":
                    self.sim.result = self.pop()
                    self.sim.complete = True
                    break
                _DISPATCH[opcode.name](self, arg)
        except (ValueError, Malformed, UnicodeDecodeError) as exc:
            self.op = self.op or "?"
            self.emit(Severity.MEDIUM, "malformed", f"pickle stream breaks: {exc}")
        self.sim.end = self.buf.tell()
        return self.sim

    def raw_pair(self) -> tuple[str, str]:
        """The two text lines after a GLOBAL/INST opcode, decoded as the unpickler does."""
        data = self.buf.getbuffer()
        start = self.pos + 1
        first = bytes(data[start:self.buf.tell()]).split(b"\n")
        if len(first) < 2:
            raise Malformed("truncated GLOBAL/INST")
        return first[0].decode("utf-8"), first[1].decode("utf-8")

    # --- imports and calls ----------------------------------------------------------------
    def import_global(self, module: str, name: str) -> GlobalRef:
        """Classify and push-ready reference for ``module.name`` (a finding if not allowed)."""
        if self.sim.proto < 3:
            module, name = checks.normalise(module, name)
        ref = GlobalRef(module, name, self.pos)
        verdict = checks.classify(module, name)
        if not verdict.allowed and verdict.severity is not None:
            self.emit(verdict.severity, "import", f"imports {ref.qualname}: {verdict.reason}",
                      ref.qualname)
        return ref

    def call(self, func: object, args: object, *, newobj: bool = False) -> Call:
        """Record ``func(*args)`` and report it when the allowlist does not permit it."""
        result = Call(func, args, self.pos, self.op)
        problem = checks.check_call(func, args, newobj=newobj)
        if problem is not None:
            severity, detail = problem
            name = func.qualname if isinstance(func, GlobalRef) else None
            self.emit(severity, "call", detail, name)
        return result

    def nested(self, **kwargs: object) -> Simulation:
        """Simulate a pickle embedded at the current position (joblib object arrays)."""
        if self.nesting >= MAX_NESTING:
            raise Malformed("pickles nested too deeply")
        machine = PickleMachine(self.buf, persistent=self.persistent,
                                build_hook=self.build_hook, nesting=self.nesting + 1)
        sim = machine.run()
        self.sim.events.extend(sim.events)
        return sim


# --- opcode handlers ------------------------------------------------------------------------
def _push_arg(m: PickleMachine, arg: object) -> None:
    m.stack.append(arg)


def _push(value: Callable[[], object]) -> Callable[[PickleMachine, object], None]:
    def handler(m: PickleMachine, _arg: object) -> None:
        m.stack.append(value())
    return handler


def _proto(m: PickleMachine, arg: object) -> None:
    if m.pos != m.start:
        m.emit(Severity.MEDIUM, "malformed", "PROTO after the start of the stream")
    m.sim.proto = int(arg) if isinstance(arg, int) else 0


def _noop(_m: PickleMachine, _arg: object) -> None:
    return None


def _mark(m: PickleMachine, _arg: object) -> None:
    m.metastack.append(m.stack)
    m.stack = []


def _tuple_n(n: int) -> Callable[[PickleMachine, object], None]:
    def handler(m: PickleMachine, _arg: object) -> None:
        if len(m.stack) < n:
            raise Malformed(f"{m.op} needs {n} items")
        items = tuple(m.stack[len(m.stack) - n:])
        del m.stack[len(m.stack) - n:]
        m.stack.append(items)
    return handler


def _from_mark(kind: str) -> Callable[[PickleMachine, object], None]:
    def handler(m: PickleMachine, _arg: object) -> None:
        items = m.pop_mark()
        if kind == "tuple":
            m.stack.append(tuple(items))
        elif kind == "list":
            m.stack.append(SimList(items))
        elif kind == "frozenset":
            m.stack.append(SimSet(items, frozen=True))
        else:
            if len(items) % 2:
                raise Malformed("DICT with an odd number of items")
            m.stack.append(SimDict(list(zip(items[::2], items[1::2], strict=True))))
    return handler


def _add_to(m: PickleMachine, target: object, items: list[object], kind: str) -> None:
    """APPEND(S)/SETITEM(S)/ADDITEMS: containers take items; anything else calls its methods."""
    if kind == "list" and isinstance(target, SimList):
        target.items.extend(items)
    elif kind == "dict" and isinstance(target, SimDict):
        if len(items) % 2:
            raise Malformed("SETITEMS with an odd number of items")
        target.pairs.extend(zip(items[::2], items[1::2], strict=True))
    elif kind == "set" and isinstance(target, SimSet):
        target.items.extend(items)
    else:
        problem = checks.check_mutation(target, kind)
        if problem is not None:
            m.emit(problem[0], "call", problem[1],
                   target.qualname if isinstance(target, GlobalRef) else None)


def _mutate(kind: str, marked: bool, single: int = 0) -> Callable[[PickleMachine, object], None]:
    def handler(m: PickleMachine, _arg: object) -> None:
        items = m.pop_mark() if marked else [m.pop() for _ in range(single)][::-1]
        _add_to(m, m.top(), items, kind)
    return handler


def _pop(m: PickleMachine, _arg: object) -> None:
    if m.stack:
        m.stack.pop()
    else:
        m.pop_mark()


def _dup(m: PickleMachine, _arg: object) -> None:
    m.stack.append(m.top())


def _pop_mark(m: PickleMachine, _arg: object) -> None:
    m.pop_mark()


def _get(m: PickleMachine, arg: object) -> None:
    key = int(arg) if isinstance(arg, int) else -1
    if key not in m.memo:
        m.emit(Severity.MEDIUM, "malformed", f"memo GET of index {key} never PUT")
        m.stack.append(Opaque("missing memo"))
        return
    m.stack.append(m.memo[key])


def _put(m: PickleMachine, arg: object) -> None:
    key = int(arg) if isinstance(arg, int) else -1
    if key < 0:
        raise Malformed("negative memo index")
    m.memo[key] = m.top()


def _memoize(m: PickleMachine, _arg: object) -> None:
    m.memo[len(m.memo)] = m.top()


def _ext(m: PickleMachine, arg: object) -> None:
    m.emit(Severity.HIGH, "import",
           f"extension code {arg} imports a global through the copyreg registry")
    m.stack.append(Opaque(f"extension {arg}"))


def _global(m: PickleMachine, _arg: object) -> None:
    module, name = m.raw_pair()
    m.stack.append(m.import_global(module, name))


def _stack_global(m: PickleMachine, _arg: object) -> None:
    name, module = m.pop(), m.pop()
    if isinstance(module, str) and isinstance(name, str):
        m.stack.append(m.import_global(module, name))
        return
    m.emit(Severity.CRITICAL, "import",
           "STACK_GLOBAL with a module/name not given as literal strings (dynamic import)")
    m.stack.append(Opaque("dynamic global"))


def _reduce(m: PickleMachine, _arg: object) -> None:
    args = m.pop()
    func = m.pop()
    m.stack.append(m.call(func, args))


def _newobj(m: PickleMachine, _arg: object) -> None:
    args = m.pop()
    cls = m.pop()
    m.stack.append(m.call(cls, args, newobj=True))


def _newobj_ex(m: PickleMachine, _arg: object) -> None:
    kwargs = m.pop()
    args = m.pop()
    cls = m.pop()
    if not (isinstance(kwargs, SimDict) and not kwargs.pairs):
        m.emit(Severity.MEDIUM, "call", "NEWOBJ_EX with keyword arguments")
    m.stack.append(m.call(cls, args, newobj=True))


def _inst(m: PickleMachine, _arg: object) -> None:
    module, name = m.raw_pair()
    args = tuple(m.pop_mark())
    m.stack.append(m.call(m.import_global(module, name), args))


def _obj(m: PickleMachine, _arg: object) -> None:
    items = m.pop_mark()
    if not items:
        raise Malformed("OBJ without a class")
    m.stack.append(m.call(items[0], tuple(items[1:])))


def _build(m: PickleMachine, _arg: object) -> None:
    state = m.pop()
    target = m.top()
    problem = checks.check_build(target, state)
    if problem is not None:
        m.emit(problem[0], "build", problem[1],
               target.qualname if isinstance(target, GlobalRef) else None)
    if isinstance(target, Call):
        target.state = state
        if m.build_hook is not None and checks.is_joblib_wrapper(target):
            m.build_hook(m, target)


def _persid(m: PickleMachine, arg: object) -> None:
    pid: object = m.pop() if m.op == "BINPERSID" else arg
    problem = checks.check_persistent(pid, m.persistent)
    if problem is not None:
        m.emit(problem[0], "persistent_id", problem[1])
    m.stack.append(PersistentRef(pid, m.pos))


def _buffer(m: PickleMachine, _arg: object) -> None:
    m.stack.append(Opaque("out-of-band buffer"))


_DISPATCH: dict[str, Callable[[PickleMachine, object], None]] = {
    "PROTO": _proto, "FRAME": _noop, "READONLY_BUFFER": _noop, "NEXT_BUFFER": _buffer,
    "NONE": _push(lambda: None), "NEWTRUE": _push(lambda: True), "NEWFALSE": _push(lambda: False),
    "EMPTY_LIST": _push(SimList), "EMPTY_DICT": _push(SimDict), "EMPTY_SET": _push(SimSet),
    "EMPTY_TUPLE": _push(tuple), "TUPLE1": _tuple_n(1), "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3), "TUPLE": _from_mark("tuple"), "LIST": _from_mark("list"),
    "DICT": _from_mark("dict"), "FROZENSET": _from_mark("frozenset"),
    "APPEND": _mutate("list", False, 1), "APPENDS": _mutate("list", True),
    "SETITEM": _mutate("dict", False, 2), "SETITEMS": _mutate("dict", True),
    "ADDITEMS": _mutate("set", True), "POP": _pop, "DUP": _dup, "MARK": _mark,
    "POP_MARK": _pop_mark, "GET": _get, "BINGET": _get, "LONG_BINGET": _get, "PUT": _put,
    "BINPUT": _put, "LONG_BINPUT": _put, "MEMOIZE": _memoize, "EXT1": _ext, "EXT2": _ext,
    "EXT4": _ext, "GLOBAL": _global, "STACK_GLOBAL": _stack_global, "REDUCE": _reduce,
    "NEWOBJ": _newobj, "NEWOBJ_EX": _newobj_ex, "INST": _inst, "OBJ": _obj, "BUILD": _build,
    "PERSID": _persid, "BINPERSID": _persid,
}
for _literal in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING",
                 "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
                 "BYTEARRAY8", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
                 "FLOAT", "BINFLOAT"):
    _DISPATCH[_literal] = _push_arg


def simulate(data: bytes, *, persistent: str = "none",
             build_hook: BuildHook | None = None) -> Simulation:
    """Simulate the first pickle in ``data`` (see :class:`PickleMachine`)."""
    return PickleMachine(io.BytesIO(data), persistent=persistent, build_hook=build_hook).run()
