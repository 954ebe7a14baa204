"""Regenerate ``known_ml.json``: the classes of scikit-learn and LightGBM a model pickle may name.

Run from a checkout with the libraries installed::

    python -m mirrorguard.guard.artifacts.scan.known_gen \\
        src/mirrorguard/guard/artifacts/scan/known_ml.json

It imports every module of each library (our own installed dependencies, never anything named by
a scanned file), keeps the classes *defined* there (the ``module`` a pickle records) and the
Cython pickle helpers (``newObj``, ``__pyx_unpickle_*``), and leaves out test helpers, dataset
downloaders, vendored code and the parallel back-ends; exceptions and classes whose names say
they touch files, paths or loggers are left out too. Extension types of compiled (Cython)
modules are listed apart: they rebuild by calling the type with numbers and arrays
(``Tree(n_features, n_classes, n_outputs)``, ``Hinge(1.0)``), so they may be called.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

_SKIP_PARTS = frozenset({
    "tests", "externals", "datasets", "_testing", "conftest", "_build_utils", "__check_build",
    "experimental", "_min_dependencies", "_show_versions", "_distributor_init", "parallel",
    "_joblib", "dask", "plotting", "callback", "libpath",
})
# classes whose construction touches the file system or logging are never allowlisted
_SKIP_CLASS = re.compile(r"(?i)(temp|file|logger|path|download|memmap)")


def _walk(package: ModuleType) -> list[ModuleType]:
    """Every importable submodule of ``package`` outside the skipped parts."""
    mods = [package]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if _SKIP_PARTS.intersection(info.name.split(".")):
            continue
        try:
            mods.append(importlib.import_module(info.name))
        except Exception:  # noqa: S112 - optional submodules (missing extras) are left out
            continue
    return mods


def collect(package_names: list[str]) -> dict[str, object]:
    """The JSON document: library versions, constructible classes and pickle helpers."""
    classes: set[str] = set()
    helpers: set[str] = set()
    ctors: set[str] = set()
    versions: dict[str, str] = {}
    for pkg_name in package_names:
        package = importlib.import_module(pkg_name)
        versions[pkg_name] = str(getattr(package, "__version__", "unknown"))
        for mod in _walk(package):
            for attr, value in vars(mod).items():
                if inspect.isclass(value) and value.__module__ == mod.__name__:
                    if issubclass(value, BaseException) or _SKIP_CLASS.search(attr):
                        continue
                    compiled = str(getattr(mod, "__file__", "")).endswith((".so", ".pyd"))
                    (ctors if compiled else classes).add(f"{mod.__name__}:{attr}")
                elif attr == "newObj" or attr.startswith("__pyx_unpickle_"):
                    helpers.add(f"{mod.__name__}:{attr}")
    return {"versions": versions, "classes": sorted(classes), "helpers": sorted(helpers),
            "extension_types": sorted(ctors)}


def main(argv: list[str]) -> int:
    """Write the allowlist file named in ``argv[0]``."""
    out = Path(argv[0]) if argv else Path(__file__).with_name("known_ml.json")
    doc = collect(["sklearn", "lightgbm"])
    out.write_text(json.dumps(doc, indent=0) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
