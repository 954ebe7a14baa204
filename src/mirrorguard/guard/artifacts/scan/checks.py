"""Checks the pickle machine applies to calls, BUILDs, container mutations and persistent ids.

Each check returns ``None`` when the construction is allowed, else ``(severity, detail)``.

>>> from mirrorguard.guard.artifacts.scan.values import GlobalRef
>>> check_call(GlobalRef("numpy._core", "_ufunc_reconstruct", 0), ("numpy", "log1p")) is None
True
>>> check_call(GlobalRef("numpy._core", "_ufunc_reconstruct", 0), ("os", "system"))[0].name
'CRITICAL'
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mirrorguard.guard.artifacts.scan.policy import (
    Verdict,
    allowed_role,
    classify,
    normalise,
    numpy_ufuncs,
    storage_location_ok,
)
from mirrorguard.guard.artifacts.scan.report import Severity
from mirrorguard.guard.artifacts.scan.values import (
    Call,
    GlobalRef,
    Opaque,
    SimDict,
    SimList,
    SimSet,
    render,
)

__all__ = ["Verdict", "check_build", "check_call", "check_mutation", "check_persistent",
           "classify", "is_joblib_wrapper", "normalise"]

Problem = tuple[Severity, str] | None
_RECONSTRUCTOR_BASES = frozenset(
    f"builtins.{n}"
    for n in ("object", "dict", "list", "set", "frozenset", "tuple", "int", "float", "str", "bytes")
)
_DUNDER_KEY = re.compile(r"^__\w+__$")


def _role(ref: GlobalRef) -> str | None:
    return allowed_role(ref.module, ref.name)


def _reconstructor(args: object) -> Problem:
    """``copyreg._reconstructor(cls, base, state)``: cls allowlisted, base a plain builtin."""
    if (isinstance(args, tuple) and len(args) == 3 and isinstance(args[0], GlobalRef)
            and _role(args[0]) in ("class", "callable")
            and isinstance(args[1], GlobalRef) and args[1].qualname in _RECONSTRUCTOR_BASES):
        return None
    return Severity.HIGH, f"copyreg._reconstructor{render(args)} on a class not allowlisted"


def _ufunc(args: object) -> Problem:
    """``numpy._core._ufunc_reconstruct(module, name)`` imports by string: only numpy ufuncs."""
    if (isinstance(args, tuple) and len(args) == 2 and args[0] == "numpy"
            and isinstance(args[1], str) and args[1] in numpy_ufuncs()):
        return None
    return Severity.CRITICAL, f"_ufunc_reconstruct{render(args)} imports an arbitrary name"


def _codecs_encode(args: object) -> Problem:
    """``_codecs.encode(text, 'latin1')`` is how protocol 2 writes ``bytes``."""
    if (isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str)
            and args[1] in ("latin1", "latin-1")):
        return None
    return Severity.MEDIUM, f"_codecs.encode{render(args)} with an unusual codec"


def _get_layout(args: object) -> Problem:
    if isinstance(args, tuple) and len(args) == 1 and isinstance(args[0], str) and re.fullmatch(
            r"torch\.\w+", args[0]):
        return None
    return Severity.HIGH, f"torch.serialization._get_layout{render(args)}"


_VALIDATORS: dict[str, Callable[[object], Problem]] = {
    "copyreg._reconstructor": _reconstructor,
    "numpy.core._ufunc_reconstruct": _ufunc,
    "numpy._core._ufunc_reconstruct": _ufunc,
    "_codecs.encode": _codecs_encode,
    "torch.serialization._get_layout": _get_layout,
}


def check_call(func: object, args: object, *, newobj: bool = False) -> Problem:
    """Whether calling ``func(*args)`` (``REDUCE``; ``NEWOBJ`` when ``newobj``) is allowed."""
    shown = f"{render(func)}{render(args) if isinstance(args, tuple) else '(*…)'}"
    if not isinstance(func, GlobalRef):
        return Severity.HIGH, f"calls a computed callable: {shown}"
    verdict = classify(func.module, func.name)
    if not verdict.allowed:
        severity = verdict.severity or Severity.MEDIUM
        return severity, f"calls {shown}: {verdict.reason}"
    if verdict.role == "callable":
        return None
    if verdict.role == "class":
        if newobj or args == ():
            return None
        return Severity.MEDIUM, f"allowlisted class called with arguments: {shown}"
    if verdict.role == "checked":
        return _VALIDATORS[func.qualname](args)
    return Severity.HIGH, f"calls {shown}, which may only be referenced"


def _allowed_instance(target: object) -> bool:
    return (isinstance(target, Call) and isinstance(target.func, GlobalRef)
            and _role(target.func) in ("class", "callable", "checked"))


def check_mutation(target: object, kind: str) -> Problem:
    """APPEND/SETITEM/ADDITEMS on something that is not a plain container calls its methods."""
    if isinstance(target, SimList | SimDict | SimSet) or _allowed_instance(target):
        return None
    if isinstance(target, Call):
        return None  # the call that made it is already reported
    return Severity.HIGH, f"{kind} items added to {render(target)}: calls its methods"


def _dunder_keys(state: object) -> list[str]:
    dicts = [state]
    if isinstance(state, tuple) and len(state) == 2:
        dicts = list(state)
    return [k for d in dicts if isinstance(d, SimDict) for k, _ in d.pairs
            if isinstance(k, str) and _DUNDER_KEY.match(k)]


def check_build(target: object, state: object) -> Problem:
    """``BUILD`` sets state; on a class, function or module it rewrites attributes."""
    if isinstance(target, GlobalRef):
        return Severity.HIGH, f"BUILD on {target.qualname} sets attributes of a global"
    if not isinstance(target, Call):
        if isinstance(target, Opaque):
            return None
        return Severity.MEDIUM, f"BUILD on a non-object {render(target)}"
    dunders = _dunder_keys(state)
    if dunders:
        return Severity.HIGH, f"BUILD state sets special attributes {dunders[:4]}"
    return None


def _torch_pid_ok(pid: object) -> bool:
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
        return False
    storage = pid[1]
    return (isinstance(storage, GlobalRef) and storage.module.startswith("torch")
            and _role(storage) == "class" and isinstance(pid[2], str)
            and storage_location_ok(pid[3]) and isinstance(pid[4], int)
            and (len(pid) == 5 or pid[5] is None or isinstance(pid[5], tuple)))


def check_persistent(pid: object, mode: str) -> Problem:
    """Persistent ids are only expected in PyTorch files, and only as storage references."""
    if mode == "torch":
        if _torch_pid_ok(pid):
            return None
        return Severity.HIGH, f"unexpected persistent id {render(pid)} in a PyTorch pickle"
    return Severity.MEDIUM, f"persistent id {render(pid)} in a plain pickle"


def is_joblib_wrapper(call: Call) -> bool:
    """Whether ``call`` builds a joblib ``NumpyArrayWrapper`` (raw array bytes follow its BUILD)."""
    return (isinstance(call.func, GlobalRef)
            and call.func.qualname == "joblib.numpy_pickle.NumpyArrayWrapper")
