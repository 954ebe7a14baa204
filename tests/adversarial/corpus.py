"""Build the adversarial model-file corpus into a directory (never committed as binaries).

``build_corpus(out_dir, data_dir, seed)`` writes every malicious sample (raw opcodes, one per
published bypass class variant) under ``out_dir/malicious/<category>/`` and every benign sample
(real libraries, real data) under ``out_dir/benign/<category>/``, and returns what it wrote.
Used by the tests in this folder and by the ``artifacts`` benchmark suite.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # the suite loads this file by path; siblings import by name
    sys.path.insert(0, _HERE)

from corpus_benign import CLAMP_FILE, benign_samples  # noqa: E402
from corpus_malicious import MALICIOUS, Sample  # noqa: E402

CATEGORIES = ("reduce_exec", "indirect_import", "ml_code_runner", "memo_stack_confusion",
              "protocol_variants", "nested_archive", "joblib_wrapper", "keras_onnx")


@dataclass(frozen=True)
class Built:
    """A sample written to disk."""

    sample: Sample
    path: Path


def write_samples(samples: list[Sample], root: Path) -> list[Built]:
    built: list[Built] = []
    for sample in samples:
        kind = "malicious" if sample.malicious else "benign"
        folder = root / kind / sample.category / sample.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / sample.filename
        path.write_bytes(sample.build())
        built.append(Built(sample, path))
    return built


def build_malicious(root: Path) -> list[Built]:
    return write_samples(MALICIOUS, root)


def build_corpus(root: Path, data_dir: Path, seed: int = 0, rows: int = 1500) -> list[Built]:
    """Write the whole corpus under ``root``; benign models are trained on ClaMP rows."""
    return build_malicious(root) + write_samples(benign_samples(data_dir, seed, rows), root)


__all__ = ["CATEGORIES", "CLAMP_FILE", "MALICIOUS", "Built", "Sample", "build_corpus",
           "build_malicious", "write_samples"]
