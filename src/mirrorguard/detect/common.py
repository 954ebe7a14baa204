"""Small helpers shared by the detectors in this package: state prefixes, fitted checks.

>>> flat = with_prefix("tf", {"a": 1})
>>> flat, strip_prefix("tf", flat)
({'tf.a': 1}, {'a': 1})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import numpy as np

from mirrorguard.errors import MirrorguardError
from mirrorguard.features.transforms import NotFittedError

V = TypeVar("V")

__all__ = ["NotFittedError", "benign_mask", "check_fitted", "strip_prefix", "with_prefix"]


def with_prefix(prefix: str, arrays: Mapping[str, V]) -> dict[str, V]:
    """``{prefix.key: value}``."""
    return {f"{prefix}.{k}": v for k, v in arrays.items()}


def strip_prefix(prefix: str, arrays: Mapping[str, V]) -> dict[str, V]:
    """The entries under ``prefix.``, with the prefix removed."""
    head = f"{prefix}."
    return {k[len(head):]: v for k, v in arrays.items() if k.startswith(head)}


def check_fitted(obj: object, attr: str) -> None:
    """Raise :class:`NotFittedError` unless ``obj`` has the learned attribute ``attr``."""
    if not hasattr(obj, attr):
        raise NotFittedError(f"{type(obj).__name__} is not fitted; call fit() first")


def benign_mask(n_rows: int, y: np.ndarray | None) -> np.ndarray:
    """Rows to learn from for benign-only training: all rows, or those with ``y == 0``."""
    if y is None:
        return np.ones(n_rows, dtype=bool)
    labels = np.asarray(y)
    if labels.shape != (n_rows,):
        raise MirrorguardError(f"labels have shape {labels.shape}, expected ({n_rows},)")
    mask = labels == 0
    if not mask.any():
        raise MirrorguardError("no benign rows (label 0) to learn from")
    return np.asarray(mask, dtype=bool)
