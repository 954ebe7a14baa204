from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.bench import datasets as ds
from mirrorguard.bench.suites import detect as suite
from mirrorguard.errors import DataMissingError


def test_metrics_on_a_known_case() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    score = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8, 0.85, 0.95])
    m = suite.metrics(y, score, score >= 0.5)
    assert m["roc_auc"] == pytest.approx(0.8125)
    assert m["precision"] == 0.75 and m["recall"] == 0.75 and m["accuracy"] == 0.75
    assert m["fpr_at_95_recall"] == 0.25  # all attacks reached after one benign (0.9)


def test_nsl_kdd_loader() -> None:
    folder = need_data("nsl_kdd")
    t = ds.load_nsl_kdd(folder, "KDDTest+")
    assert t.X.shape == (22_544, 41)
    assert int(t.y.sum()) == 12_833 and (t.classes == "normal").sum() == 9_711
    assert t.X.schema["service"] == pl.String


def test_unsw_iot_clamp_loaders() -> None:
    u = ds.load_unsw_nb15(need_data("unsw_nb15"))
    assert u.X.height == 82_332 and int(u.y.sum()) == 45_332
    assert "id" not in u.X.columns and "proto" in u.X.columns
    iot = ds.load_iot23(need_data("iot23_aucad"))
    assert iot.X.height < 2_000 and iot.X.unique().height == iot.X.height
    clamp = ds.load_clamp(need_data("clamp"))
    assert 5_000 < clamp.X.height <= 5_210 and "packer_type" in clamp.X.columns


def test_missing_file_is_a_data_error(tmp_path: object) -> None:
    with pytest.raises(DataMissingError):
        ds.load_unsw_nb15(need_data() / "no_such_folder")


def test_unsupervised_setting_on_a_subsample() -> None:
    folder = need_data("nsl_kdd")
    train = ds.load_nsl_kdd(folder, "KDDTrain+_20Percent")
    test = ds.load_nsl_kdd(folder, "KDDTest+")
    rng = np.random.default_rng(0)
    a = rng.choice(train.X.height, 2500, replace=False)
    b = rng.choice(test.X.height, 1000, replace=False)
    res, base, _ = suite.unsupervised(train.X[a], train.y[a], test.X[b], test.y[b], seed=0)
    assert res["unsupervised"]["roc_auc"] > 0.9
    assert set(base["unsupervised"]) == {"iforest", "lof"}
    assert res["score_rows_per_s"] > 0 and base["iforest_score_rows_per_s"] > 0
