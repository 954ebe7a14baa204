"""Which globals a model pickle may name: an allowlist of safe constructions, a denylist for tiers.

Every ``module.name`` a pickle imports is classified. Only names on the allowlist pass; anything
else is a finding whose severity comes from the denylist tiers: process/code/file/network access
is CRITICAL, indirection helpers and loader-like functions of ML libraries are HIGH, any other
unknown name is MEDIUM. The allowlist records a *role* for each name:

* ``callable`` — may be called with arguments (``numpy.dtype``, ``torch._utils._rebuild_tensor_v2``)
* ``class`` — may be instantiated without arguments, through ``NEWOBJ`` or
  ``copyreg._reconstructor``, and given state with ``BUILD`` (scikit-learn estimators)
* ``value`` — may only be referenced (``numpy.log1p``, ``torch.float32``)
* ``checked`` — callable only with arguments a validator accepts (names imported *by string*,
  such as ``numpy._core._ufunc_reconstruct('numpy', 'log1p')``)

The same idea as fickling's ML allowlist and modelscan's unsafe-globals tiers; the lists here are
our own.

>>> classify("os", "system").severity.name
'CRITICAL'
>>> classify("collections", "OrderedDict").allowed
True
>>> classify("sklearn.ensemble._forest", "RandomForestClassifier").role
'class'
>>> classify("mypackage.models", "Net").severity.name
'MEDIUM'
"""

from __future__ import annotations

import _compat_pickle
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from mirrorguard.guard.artifacts.scan.report import Severity


@dataclass(frozen=True)
class Verdict:
    """Allowed (with a role) or not (with a severity and a reason)."""

    allowed: bool
    role: str | None
    severity: Severity | None
    reason: str


_TORCH_STORAGES = [
    "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
    "ComplexFloat", "ComplexDouble", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4"
]
_TORCH_DTYPES = [
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "complex64", "complex128", "float", "cfloat", "double", "half", "long", "int", "short", "qint8",
    "quint8", "qint32", "uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2"
]

_HAND: dict[str, dict[str, str]] = {
    "builtins": dict.fromkeys((
        "set", "frozenset", "slice", "complex", "bytearray", "bytes", "list", "dict", "tuple",
        "int", "float", "str", "bool", "range"), "callable") | {"object": "class"},
    "collections": {"OrderedDict": "callable", "defaultdict": "callable",
                    "Counter": "callable", "deque": "callable"},
    "copyreg": {"_reconstructor": "checked"},
    "_codecs": {"encode": "checked"},
    "datetime": dict.fromkeys(("datetime", "date", "time", "timedelta", "timezone"), "callable"),
    "decimal": {"Decimal": "callable"},
    "fractions": {"Fraction": "callable"},
    "uuid": {"UUID": "class"},
    "numpy": {"dtype": "callable", "ndarray": "class", "matrix": "class"},
    "numpy.random._pickle": dict.fromkeys(
        ("__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"), "callable"),
    "numpy.random.bit_generator": {"SeedSequence": "class",
                                   "__pyx_unpickle_SeedSequence": "callable"},
    "numpy.ma.core": {"_mareconstruct": "callable", "MaskedArray": "class"},
    "joblib.numpy_pickle": {"NumpyArrayWrapper": "class"},
    "torch": {f"{n}Storage": "class" for n in _TORCH_STORAGES}
    | dict.fromkeys(_TORCH_DTYPES, "value") | {"Size": "callable", "device": "callable"},
    "torch.storage": {"UntypedStorage": "class", "TypedStorage": "class"},
    "torch._utils": dict.fromkeys((
        "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
        "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor"), "callable"),
    "torch._tensor": {"_rebuild_from_type_v2": "callable"},
    "torch.nn.parameter": {"Parameter": "callable"},
    "torch.serialization": {"_get_layout": "checked"},
    "xgboost.core": {"Booster": "class"},
    # Cython types rebuilt by calling the type with constructor arguments
    "sklearn.tree._tree": {"Tree": "callable"},
    "xgboost.sklearn": dict.fromkeys((
        "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor",
    ), "class"),
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _HAND[_mod] = {"_reconstruct": "callable", "scalar": "callable"}
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _HAND[_mod] = {"_frombuffer": "callable"}
for _mod in ("numpy.core", "numpy._core"):
    _HAND[_mod] = {"_ufunc_reconstruct": "checked"}
for _mod, _cls in (("_mt19937", "MT19937"), ("_pcg64", "PCG64"), ("_pcg64", "PCG64DXSM"),
                   ("_philox", "Philox"), ("_sfc64", "SFC64"), ("_generator", "Generator"),
                   ("mtrand", "RandomState")):
    _HAND.setdefault(f"numpy.random.{_mod}", {})[_cls] = "class"
for _kind in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil"):
    _HAND[f"scipy.sparse._{_kind}"] = {f"{_kind}_matrix": "class", f"{_kind}_array": "class"}

# --- denylist tiers ---------------------------------------------------------------------------
_CRITICAL_MODULES = frozenset([
    "os", "posix", "nt", "subprocess", "_posixsubprocess", "pty", "commands", "popen2", "runpy",
    "importlib", "imp", "code", "codeop", "ctypes", "cffi", "_ctypes", "shutil", "socket",
    "_socket", "http", "urllib", "urllib2", "urllib3", "requests", "httpx", "ftplib", "telnetlib",
    "smtplib", "webbrowser", "pickle", "_pickle", "cPickle", "dill", "cloudpickle", "marshal",
    "shelve", "sys", "types", "pdb", "bdb", "timeit", "trace", "profile", "cProfile", "pydoc",
    "asyncio", "multiprocessing", "concurrent", "signal", "zipimport", "pkgutil", "distutils",
    "setuptools", "pip", "venv", "site", "_io", "io", "fileinput", "tempfile", "glob", "pathlib",
    "_sitebuiltins", "gc", "inspect", "platform", "sqlite3", "mmap", "_thread", "threading"
])
_CRITICAL_BUILTINS = frozenset([
    "eval", "exec", "compile", "__import__", "open", "execfile", "input", "breakpoint", "getattr",
    "setattr", "delattr", "globals", "locals", "vars", "exit", "quit", "help", "memoryview",
    "__build_class__", "__loader__", "__spec__", "reload", "file"
])
_CRITICAL_QUALIFIED = (
    ("numpy", re.compile(r"^(testing|f2py|distutils|ctypeslib|lib\.npyio|lib\.format)")),
    ("numpy", re.compile(r"(^|\.)(load|loads|fromfile|memmap|save|savez|savetxt|loadtxt|genfromtxt"
                         r"|tofile|runstring|fromregex|DataSource)$")),
    ("torch", re.compile(r"^(hub|jit|serialization|_C|ops|utils|classes|package|_dynamo|compiler|"
                         r"distributed|multiprocessing|backends|_inductor|onnx|load|save)")),
    ("pandas", re.compile(r"(^|\.)(read_\w+|eval|io|core\.computation|to_pickle|HDFStore|"
                          r"ExcelFile|compat)")),
    ("joblib", re.compile(r"^(load|dump|Parallel|Memory|parallel|memory|_store|"
                          r"numpy_pickle_compat|externals|pool)")),
    ("keras", re.compile(r"")), ("tensorflow", re.compile(r"")),
    ("operator", re.compile(r"")), ("_operator", re.compile(r"")),
)
_HIGH_MODULES = frozenset([
    "functools", "_functools", "itertools", "builtins", "copyreg", "codecs", "_codecs"
])
_DANGEROUS_NAME = re.compile(
    r"(?i)(system|popen|exec|spawn|eval|compile|run|call|check_output|load|open|write|remove|"
    r"rmtree|unlink|import|getattr|setattr|attrgetter|methodcaller|partial|apply|subprocess|shell)"
)
_DUNDER = re.compile(r"(^|\.)__\w+__($|\.)")
_ML_PACKAGES = frozenset([
    "numpy", "scipy", "sklearn", "lightgbm", "xgboost", "torch", "pandas", "joblib"
])


@lru_cache(maxsize=1)
def _generated() -> dict[str, dict[str, str]]:
    """The generated scikit-learn/LightGBM allowlist (see :mod:`.known_gen`)."""
    text = resources.files(__package__).joinpath("known_ml.json").read_text()
    doc = json.loads(text)
    table: dict[str, dict[str, str]] = {}
    for role, key in (("class", "classes"), ("callable", "helpers"),
                      ("callable", "extension_types")):
        for entry in doc[key]:
            module, _, name = str(entry).partition(":")
            table.setdefault(module, {})[name] = role
    return table


@lru_cache(maxsize=1)
def numpy_ufuncs() -> frozenset[str]:
    """Names of the ufuncs in the installed numpy's top-level namespace."""
    return frozenset(n for n in dir(np) if isinstance(getattr(np, n, None), np.ufunc))


def normalise(module: str, name: str) -> tuple[str, str]:
    """Map Python 2 names to Python 3 ones as ``pickle`` does with ``fix_imports``."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        mapped: tuple[str, str] = _compat_pickle.NAME_MAPPING[(module, name)]
        return mapped
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def allowed_role(module: str, name: str) -> str | None:
    """The allowlist role of ``module.name``, or ``None`` when it is not on the allowlist."""
    role = _HAND.get(module, {}).get(name) or _generated().get(module, {}).get(name)
    if role is None and module == "numpy" and name in numpy_ufuncs():
        role = "value"
    return role


def deny_severity(module: str, name: str) -> tuple[Severity, str]:
    """Severity tier and reason for a name that is not on the allowlist."""
    module, name = normalise(module, name)
    root = module.split(".", 1)[0]
    if _DUNDER.search(name) or root in _CRITICAL_MODULES:
        return Severity.CRITICAL, f"{root} gives code, process, file or network access"
    if root == "builtins" and name.split(".", 1)[0] in _CRITICAL_BUILTINS:
        return Severity.CRITICAL, f"builtins.{name} evaluates code or reaches attributes"
    sub = module.split(".", 1)[1] + "." + name if "." in module else name
    for pkg, pattern in _CRITICAL_QUALIFIED:
        if root == pkg and pattern.search(sub):
            return Severity.CRITICAL, f"{pkg} helper that loads, writes or runs code"
    if root in _HIGH_MODULES or _DANGEROUS_NAME.search(name):
        return Severity.HIGH, "indirection or loader-like callable"
    if root in _ML_PACKAGES and not name[:1].isupper():
        return Severity.HIGH, f"{root} function that is not a known reconstruction helper"
    return Severity.MEDIUM, "global not on the allowlist of safe constructions"


def classify(module: str, name: str) -> Verdict:
    """Allowlist verdict for the global ``module.name`` (Python 2 names normalised first)."""
    module, name = normalise(module, name)
    role = allowed_role(module, name)
    if role is not None:
        return Verdict(True, role, None, "allowlisted")
    severity, reason = deny_severity(module, name)
    return Verdict(False, None, severity, reason)


_STORAGE_LOCATION = re.compile(r"^[a-z]{2,8}(:\d{1,3})?$")


def storage_location_ok(location: object) -> bool:
    """Whether a PyTorch storage location string looks like ``cpu`` or ``cuda:0``."""
    return isinstance(location, str) and bool(_STORAGE_LOCATION.match(location))
