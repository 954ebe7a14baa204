"""Conformance checks any detector or parser can be run through.

* :mod:`mirrorguard.testing.detectors` — :func:`check_detector` for every detector.
* :mod:`mirrorguard.testing.parsers` — ``check_parser`` for every ingest parser.
"""

from mirrorguard.testing.detectors import ConformanceError, check_detector, round_trip

__all__ = ["ConformanceError", "check_detector", "round_trip"]
