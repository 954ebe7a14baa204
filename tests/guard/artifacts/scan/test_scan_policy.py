"""Allowlist roles and denylist tiers."""

from __future__ import annotations

import pytest

from mirrorguard.guard.artifacts.scan.checks import check_call
from mirrorguard.guard.artifacts.scan.policy import classify, normalise, numpy_ufuncs
from mirrorguard.guard.artifacts.scan.report import Severity
from mirrorguard.guard.artifacts.scan.values import GlobalRef


@pytest.mark.parametrize(("module", "name", "severity"), [
    ("os", "system", Severity.CRITICAL), ("posix", "system", Severity.CRITICAL),
    ("builtins", "eval", Severity.CRITICAL), ("builtins", "getattr", Severity.CRITICAL),
    ("__builtin__", "exec", Severity.CRITICAL), ("numpy", "load", Severity.CRITICAL),
    ("torch.hub", "load", Severity.CRITICAL), ("operator", "attrgetter", Severity.CRITICAL),
    ("functools", "partial", Severity.HIGH), ("numpy", "frombuffer", Severity.HIGH),
    ("collections", "OrderedDict.__init__.__globals__", Severity.CRITICAL),
    ("mypkg.models", "Net", Severity.MEDIUM),
])
def test_denylist_tiers(module: str, name: str, severity: Severity) -> None:
    verdict = classify(module, name)
    assert not verdict.allowed and verdict.severity is severity


@pytest.mark.parametrize(("module", "name", "role"), [
    ("collections", "OrderedDict", "callable"), ("numpy", "dtype", "callable"),
    ("numpy._core.multiarray", "_reconstruct", "callable"), ("numpy", "log1p", "value"),
    ("torch._utils", "_rebuild_tensor_v2", "callable"), ("torch", "FloatStorage", "class"),
    ("sklearn.ensemble._forest", "RandomForestClassifier", "class"),
    ("sklearn.tree._tree", "Tree", "callable"), ("lightgbm.basic", "Booster", "class"),
    ("copyreg", "_reconstructor", "checked"), ("__builtin__", "set", "callable"),
])
def test_allowlist_roles(module: str, name: str, role: str) -> None:
    verdict = classify(module, name)
    assert verdict.allowed and verdict.role == role


def test_file_touching_classes_are_not_allowlisted() -> None:
    assert not classify("lightgbm.basic", "_TempFile").allowed


def test_normalise_python2_names() -> None:
    assert normalise("__builtin__", "xrange") == ("builtins", "range")
    assert normalise("copy_reg", "_reconstructor") == ("copyreg", "_reconstructor")


def test_ufunc_list_is_from_numpy() -> None:
    assert {"log1p", "add", "exp"} <= numpy_ufuncs()
    assert "load" not in numpy_ufuncs()


def test_role_checks_on_calls() -> None:
    cls = GlobalRef("sklearn.ensemble._forest", "RandomForestClassifier", 0)
    assert check_call(cls, ()) is None
    assert check_call(cls, (), newobj=True) is None
    problem = check_call(cls, ("x",))
    assert problem is not None and problem[0] is Severity.MEDIUM
    value = GlobalRef("numpy", "log1p", 0)
    problem = check_call(value, (1.0,))
    assert problem is not None and problem[0] is Severity.HIGH
    recon = GlobalRef("copyreg", "_reconstructor", 0)
    obj = GlobalRef("builtins", "object", 0)
    assert check_call(recon, (cls, obj, None)) is None
    assert check_call(recon, (GlobalRef("subprocess", "Popen", 0), obj, None)) is not None
