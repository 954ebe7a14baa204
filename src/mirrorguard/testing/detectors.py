"""Conformance checks every detector must pass (after scikit-learn's ``check_estimator``).

:func:`check_detector` fits fresh detectors from a factory and checks that

* inputs are not mutated (frame and labels compare equal before and after fit/score/explain);
* scores are one finite float64 per row, and ``fit`` returns ``self``;
* seeded runs are identical (two fresh fits give bit-identical scores);
* missing columns are tolerated (a dropped column still scores, finitely) and extra columns
  are ignored (identical scores);
* ``get_state`` is safe to persist: JSON metadata plus non-object arrays, written and read back
  with ``np.savez``/``np.load(allow_pickle=False)``, and ``from_state`` reproduces the scores;
* ``explain`` (when implemented) returns one explanation per requested row only.

Failures raise :class:`ConformanceError` naming the check.

>>> import numpy as np, polars as pl
>>> from mirrorguard.detect.ensemble import FlowAnomalyEnsemble
>>> rng = np.random.default_rng(0)
>>> X = pl.DataFrame({"a": rng.normal(size=300), "b": rng.exponential(size=300)})
>>> passed = check_detector(lambda: FlowAnomalyEnsemble(members=("hbos", "ecod"), seed=1), X)
>>> passed[-2:]
['state_round_trip', 'explain_rows']
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector
from mirrorguard.errors import MirrorguardError


class ConformanceError(MirrorguardError):
    """A detector failed a conformance check."""


def _fail(check: str, det: Detector, why: str) -> ConformanceError:
    return ConformanceError(f"{type(det).__name__} fails {check}: {why}", record=check)


def _scores(det: Detector, X: pl.DataFrame, check: str) -> np.ndarray:
    s = det.score(X)
    if not isinstance(s, np.ndarray) or s.dtype != np.float64 or s.shape != (X.height,):
        raise _fail(check, det, f"score must be float64 of shape ({X.height},)")
    if not np.isfinite(s).all():
        raise _fail(check, det, "scores contain NaN or inf")
    return s


def round_trip(det: Detector) -> Detector:
    """Persist ``det`` through JSON + ``.npz`` bytes (no pickle) and rebuild it."""
    meta, arrays = det.get_state()
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray) or arr.dtype == object:
            raise _fail("state_round_trip", det, f"array {name!r} is missing or object dtype")
    text = json.dumps({"params": det.get_params(), "meta": meta})
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        loaded = {k: npz[k] for k in npz.files}
    doc = json.loads(text)
    return type(det).from_state(doc["params"], doc["meta"], loaded)


def check_detector(
    make: Callable[[], Detector], X: pl.DataFrame, y: np.ndarray | None = None
) -> list[str]:
    """Run every conformance check; returns the names of the checks passed."""
    passed: list[str] = []
    X0, y0 = X.clone(), None if y is None else np.array(y, copy=True)
    det = make()
    if det.fit(X, y) is not det:
        raise _fail("fit_returns_self", det, "fit must return self")
    passed.append("fit_returns_self")
    s = _scores(det, X, "scores_shape")
    passed.append("scores_shape")
    explanations = _explain(det, X, s)
    if not X.equals(X0) or (y is not None and y0 is not None and not np.array_equal(y, y0)):
        raise _fail("inputs_unchanged", det, "fit/score/explain mutated the input")
    passed.append("inputs_unchanged")
    if not np.array_equal(_scores(make().fit(X, y), X, "seeded_identical"), s):
        raise _fail("seeded_identical", det, "two seeded fits gave different scores")
    passed.append("seeded_identical")
    extra = X.with_columns(pl.lit("zz").alias("__extra_str"), pl.lit(7.0).alias("__extra_num"))
    if not np.array_equal(_scores(det, extra, "extra_columns"), s):
        raise _fail("extra_columns", det, "extra columns changed the scores")
    passed.append("extra_columns")
    _scores(det, X.drop(X.columns[0]), "missing_columns")
    passed.append("missing_columns")
    if not np.allclose(_scores(round_trip(det), X, "state_round_trip"), s, rtol=0, atol=1e-12):
        raise _fail("state_round_trip", det, "scores differ after save/load")
    passed.append("state_round_trip")
    if explanations is not None:
        passed.append("explain_rows")
    return passed


def _explain(det: Detector, X: pl.DataFrame, s: np.ndarray) -> list[object] | None:
    rows = [int(i) for i in np.argsort(-s, kind="stable")[:3]]
    try:
        out = det.explain(X, rows)
    except NotImplementedError:
        return None
    if len(out) != len(rows) or not all(e.text for e in out):
        raise _fail("explain_rows", det, "explain must return one non-empty explanation per row")
    return list(out)
