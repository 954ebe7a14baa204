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
    "detect": ("detect", "flow anomaly / supervised detection vs scikit-learn baselines"),
    "beacon": ("beacon", "beaconing precision/recall on a real-shaped Zeek mix with beacons"),
    "logparse": ("logparse", "template mining accuracy and speed on loghub vs drain3"),
    "logad": ("logad", "log-sequence anomaly detection on HDFS vs PCA/IForest/STIDE"),
    "authweb": ("authweb", "auth and web attack detection on fail2ban samples"),
    "sigma": ("sigma", "Sigma regression tests, rule compilation, EVTX samples, throughput"),
    "intel": ("intel", "threat-intel matching throughput and exactness"),
    "correlate": ("correlate", "alert -> incident correlation on Mordor and a campaign"),
    "feedback": ("feedback", "analyst feedback loop and active learning on UNSW-NB15"),
    "poison": ("poison", "training-data poisoning screens on NSL-KDD and UNSW-NB15"),
    "feedback_integrity": ("feedback_integrity", "malicious analyst detection"),
    "artifacts": ("artifacts", "model-file scanner on a malicious/benign corpus"),
    "models": ("models", "signed models: fidelity, tamper refusal, verification cost on NSL-KDD"),
    "ledger": ("ledger", "hash-chained ledger append/verify speed and tamper detection"),
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
