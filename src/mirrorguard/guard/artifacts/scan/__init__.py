"""Scanner for model files users bring: pickle, joblib, PyTorch, NumPy, Keras/HDF5, ONNX.

Nothing is ever loaded or unpickled: pickles are walked opcode by opcode with a simulated stack
and memo, and every imported global is checked against an allowlist of safe ML constructions.

>>> from pathlib import Path
>>> scan_paths([Path("/nonexistent")]).exit_code
2
"""

from mirrorguard.guard.artifacts.scan.report import (
    EXIT_CLEAN,
    EXIT_ERRORS,
    EXIT_FINDINGS,
    EXIT_NOTHING,
    Finding,
    ScanErrorRecord,
    ScanReport,
    Severity,
    Skipped,
)
from mirrorguard.guard.artifacts.scan.scanner import ScanOptions, scan_file, scan_paths

__all__ = [
    "EXIT_CLEAN",
    "EXIT_ERRORS",
    "EXIT_FINDINGS",
    "EXIT_NOTHING",
    "Finding",
    "ScanErrorRecord",
    "ScanOptions",
    "ScanReport",
    "Severity",
    "Skipped",
    "scan_file",
    "scan_paths",
]
