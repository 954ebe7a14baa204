"""The values a simulated pickle machine holds: literals, globals, call results, containers.

Nothing here is ever *executed*: a :class:`Call` records which callable would be applied to which
arguments, a :class:`GlobalRef` which name would be imported.

>>> g = GlobalRef("os", "system", 4)
>>> render(Call(g, ("id",), 30, "REDUCE"))
"os.system('id')"
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class GlobalRef:
    """A name imported by ``GLOBAL``/``STACK_GLOBAL``/``INST`` (normalised ``module``, ``name``)."""

    module: str
    name: str
    offset: int

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Call:
    """The result of ``REDUCE``/``NEWOBJ``/``INST``/``OBJ``: ``func(*args)``, plus BUILD state."""

    func: object
    args: object
    offset: int
    opcode: str
    state: object = None


@dataclass(eq=False)
class PersistentRef:
    """A persistent id (``PERSID``/``BINPERSID``); PyTorch uses them for tensor storages."""

    pid: object
    offset: int


@dataclass(eq=False)
class Opaque:
    """A value the simulation cannot know (extension codes, out-of-band buffers, bad memo)."""

    why: str


@dataclass(eq=False)
class SimList:
    items: list[object] = field(default_factory=list)


@dataclass(eq=False)
class SimDict:
    pairs: list[tuple[object, object]] = field(default_factory=list)

    def get(self, key: str) -> object:
        """The value of the last literal ``key`` set, or ``None``."""
        for k, v in reversed(self.pairs):
            if k == key:
                return v
        return None


@dataclass(eq=False)
class SimSet:
    items: list[object] = field(default_factory=list)
    frozen: bool = False


class Mark:
    """The ``MARK`` sentinel (kept on the metastack, as the real unpickler does)."""


def render(value: object, depth: int = 0) -> str:
    """A short, safe text form of a simulated value for finding details."""
    if depth > 3:
        return "…"
    if isinstance(value, GlobalRef):
        return value.qualname
    if isinstance(value, Call):
        return f"{render(value.func, depth + 1)}{_render_args(value.args, depth)}"
    if isinstance(value, tuple | list):
        inner = ", ".join(render(v, depth + 1) for v in value[:6])
        more = ", …" if len(value) > 6 else ""
        return f"({inner}{more})" if isinstance(value, tuple) else f"[{inner}{more}]"
    if isinstance(value, SimList):
        return render(value.items, depth)
    if isinstance(value, SimDict):
        return "{" + ", ".join(f"{render(k, depth + 1)}: …" for k, _ in value.pairs[:4]) + "}"
    if isinstance(value, PersistentRef):
        return f"persistent_id{render(value.pid, depth + 1)}"
    if isinstance(value, Opaque):
        return f"<{value.why}>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _render_args(args: object, depth: int) -> str:
    if isinstance(args, tuple):
        return "(" + ", ".join(render(a, depth + 1) for a in args[:6]) + ")"
    return f"(*{render(args, depth + 1)})"
