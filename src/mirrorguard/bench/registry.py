"""The explicit list of benchmark suites.

Adding a suite: write ``bench/suites/<name>.py`` with a ``run(ctx: BenchContext) -> SuiteResult``
function and add one line to ``_SUITES`` below. Modules are imported lazily (only the suite that
runs is imported), from this fixed table: never from a name given in a config file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from mirrorguard.errors import BenchError

if TYPE_CHECKING:
    from mirrorguard.bench.harness import BenchContext, SuiteResult

SuiteFn = Callable[["BenchContext"], "SuiteResult"]

# suite name -> (module under mirrorguard.bench.suites, one-line description)
_SUITES: dict[str, tuple[str, str]] = {
    "ingest": ("ingest", "parse -> normalise -> store throughput for Zeek JSON/TSV, EVTX, syslog"),
}


def suite_names() -> list[str]:
    """Names of all registered suites."""
    return sorted(_SUITES)


def describe(name: str) -> str:
    """One-line description of a suite."""
    return _SUITES[name][1]


def get_suite(name: str) -> SuiteFn:
    """The ``run`` function of a registered suite."""
    if name not in _SUITES:
        raise BenchError(f"unknown suite {name!r}; known: {', '.join(suite_names())}")
    module = importlib.import_module(f"mirrorguard.bench.suites.{_SUITES[name][0]}")
    fn: SuiteFn = module.run
    return fn
