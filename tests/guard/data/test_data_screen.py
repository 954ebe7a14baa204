from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mirrorguard.errors import MirrorguardError, SchemaError
from mirrorguard.guard.data.findings import PoisoningBlocked, Policy
from mirrorguard.guard.data.labels import LabelParams
from mirrorguard.guard.data.screen import ScreenConfig, screen_training_data

from .conftest import blobs

FAST = ScreenConfig(labels=LabelParams(n_estimators=30, folds=3))
FAST_NO_BACKDOOR = ScreenConfig(labels=LabelParams(n_estimators=30, folds=3), backdoor=False)


def _noisy() -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    X, y = blobs(500, seed=4)
    rows = np.random.default_rng(1).choice(500, 50, replace=False)
    y[rows] = 1 - y[rows]
    return X, y, rows


def test_policies() -> None:
    X, y, rows = _noisy()
    q = screen_training_data(X, y, "quarantine", config=FAST)
    assert q.X.height == int(q.kept.sum()) < 500 and len(q.y) == q.X.height
    assert q.report.quarantined[rows].mean() >= 0.9
    label = next(f for f in q.report.findings if f.kind == "label_flip")
    assert label.severity == "high" and label.quarantine
    w = screen_training_data(X, y, Policy.WARN, config=FAST)
    assert w.X.height == 500 and w.report.quarantined.sum() == q.report.quarantined.sum()
    with pytest.raises(PoisoningBlocked) as info:
        screen_training_data(X, y, "block", config=FAST)
    assert isinstance(info.value, MirrorguardError) and info.value.report.n_rows == 500
    assert info.value.exit_code == 1


def test_report_shapes_and_text() -> None:
    X, y, _ = _noisy()
    rep = screen_training_data(X, y, "warn", config=FAST).report
    doc = rep.to_dict(max_rows=5)
    assert doc["quarantined_rows"] == int(rep.quarantined.sum())
    assert all(len(f["rows"]) <= 5 for f in doc["findings"])
    assert "label_flip" in rep.summary()
    assert sum("label_flip" in r for r in rep.reasons()) == doc["quarantined_rows"]


def test_bad_input() -> None:
    X, y = blobs(100)
    with pytest.raises(SchemaError):
        screen_training_data(X, y[:50], config=FAST)
    with pytest.raises(ValueError):
        screen_training_data(X, y, "delete", config=FAST)


def test_real_nsl_kdd_sample(nsl_small: tuple[pl.DataFrame, np.ndarray]) -> None:
    X, y = nsl_small
    clean = screen_training_data(X, y, "quarantine", config=FAST_NO_BACKDOOR)
    assert clean.report.quarantined.mean() <= 0.01
    rng = np.random.default_rng(7)
    rows = rng.choice(len(y), 200, replace=False)
    y2 = y.copy()
    y2[rows] = 1 - y2[rows]
    res = screen_training_data(X, y2, "quarantine", config=FAST_NO_BACKDOOR, test=X.head(50))
    flagged = res.report.quarantined
    assert flagged[rows].mean() >= 0.85 and flagged[rows].sum() / flagged.sum() >= 0.85
    leak = next(f for f in res.report.findings if f.kind == "leakage")
    assert leak.evidence["exact_in_train"] == 50


def test_labelled_reference_anchors_the_label_screen() -> None:
    X, y = blobs(500, seed=11)
    ref, y_ref = blobs(500, seed=12)
    y = y.copy()
    y[:30] = 1 - y[:30]
    res = screen_training_data(X, y, "quarantine", reference=ref, reference_labels=y_ref,
                               config=ScreenConfig(backdoor=False))
    assert res.report.quarantined.shape == (500,)  # judged rows are the training rows only
    assert res.report.quarantined[:30].mean() >= 0.8
    with pytest.raises(SchemaError):
        screen_training_data(X, y, reference=ref, reference_labels=y_ref[:10])
