"""Benchmark suites: figures measured on real data, written as JSON with their provenance."""

from mirrorguard.bench.harness import BenchContext, SuiteResult, run_suite
from mirrorguard.bench.registry import get_suite, suite_names

__all__ = ["BenchContext", "SuiteResult", "get_suite", "run_suite", "suite_names"]
