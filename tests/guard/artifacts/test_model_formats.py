"""Round trips of every safe format, and refusals at save and load time."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import IsolationForest
from tests.conftest import need_data

from mirrorguard.detect.base import Detector
from mirrorguard.errors import FormatError, UnsafeArtifactError
from mirrorguard.guard.artifacts.detector_io import load_detector, save_detector
from mirrorguard.guard.artifacts.iforest import (
    IsolationForestArrays,
    _round_down_f32,
    load_isolation_forest,
    save_isolation_forest,
)
from mirrorguard.guard.artifacts.lightgbm_io import load_lightgbm, save_lightgbm
from mirrorguard.guard.artifacts.loader import load_model
from mirrorguard.guard.artifacts.seal import open_model_dir
from mirrorguard.guard.keys import Signer, Verifier


def test_detector_round_trip_keeps_params_state_and_scores(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    classes: dict[str, type[Detector]], table: tuple[pl.DataFrame, np.ndarray],
) -> None:
    path, original = saved_models["detector"]
    loaded = load_detector(path, keys[1], classes)
    assert type(loaded) is type(original)
    assert loaded.get_params() == original.get_params() == {"columns": None, "clip": 20.0}
    np.testing.assert_array_equal(loaded.score(table[0]), original.score(table[0]))
    manifest = open_model_dir(path, keys[1]).manifest
    assert manifest.detector == "robust_z" and manifest.kind == "detector"
    assert manifest.lineage.ingest_ids == ("ingest-1",)
    assert manifest.lineage.training_data is not None
    assert manifest.lineage.training_data.rows == 400
    assert {f.path for f in manifest.files} == {"state.json", "arrays.npz",
                                                "training_screen.json"}
    # what the training screen found travels with the model, signed like the rest
    assert original.screen_report_ is not None
    assert loaded.screen_report_ == json.loads(json.dumps(original.screen_report_))


def test_detector_not_in_class_registry_is_refused(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
) -> None:
    with pytest.raises(FormatError, match="'robust_z' is not in the class registry"):
        load_detector(saved_models["detector"][0], keys[1], {})


def test_object_arrays_and_unfitted_detectors_are_refused_at_save(
    detector_cls: type[Detector], table: tuple[pl.DataFrame, np.ndarray],
    keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    with pytest.raises(FormatError, match="not fitted"):
        save_detector(detector_cls(), tmp_path / "unfitted", keys[0])
    det = detector_cls().fit(table[0])
    det.median_ = np.array([{"a": 1}], dtype=object)  # type: ignore[attr-defined]
    with pytest.raises(FormatError, match="object dtype"):
        save_detector(det, tmp_path / "objects", keys[0])
    assert not (tmp_path / "objects").exists()


def test_non_json_params_are_refused_at_save(
    detector_cls: type[Detector], table: tuple[pl.DataFrame, np.ndarray],
    keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    det = detector_cls(clip=float("nan")).fit(table[0])  # type: ignore[call-arg]
    with pytest.raises(FormatError, match="not a finite number"):
        save_detector(det, tmp_path / "nan", keys[0])


def test_existing_directory_is_not_overwritten_unless_asked(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    booster = saved_models["lightgbm"][1]
    save_lightgbm(booster, tmp_path / "m", keys[0], name="gbm")
    with pytest.raises(UnsafeArtifactError, match="already exists"):
        save_lightgbm(booster, tmp_path / "m", keys[0], name="gbm")
    save_lightgbm(booster, tmp_path / "m", keys[0], name="gbm2", overwrite=True)
    assert open_model_dir(tmp_path / "m", keys[1]).manifest.name == "gbm2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp dirs left


def test_lightgbm_round_trip_predicts_identically(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    table: tuple[pl.DataFrame, np.ndarray],
) -> None:
    path, booster = saved_models["lightgbm"]
    loaded = load_lightgbm(path, keys[1])
    X = table[0].to_numpy()
    np.testing.assert_array_equal(loaded.predict(X), booster.predict(X))
    params = open_model_dir(path, keys[1]).manifest.params
    assert params["num_trees"] == 8 and params["num_leaves"] == 7


def test_lightgbm_sklearn_wrapper_is_saved_through_its_booster(
    keys: tuple[Signer, Verifier], table: tuple[pl.DataFrame, np.ndarray], tmp_path: Path,
) -> None:
    X, y = table[0].to_numpy(), table[1]
    clf = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1).fit(X, y)
    save_lightgbm(clf, tmp_path / "clf", keys[0], name="clf", params=clf.get_params())
    loaded = load_lightgbm(tmp_path / "clf", keys[1])
    proba = np.asarray(clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), proba[:, 1])
    with pytest.raises(FormatError, match=r"neither a lightgbm.Booster"):
        save_lightgbm(object(), tmp_path / "x", keys[0], name="x")


def test_kind_mismatch_is_refused(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
) -> None:
    with pytest.raises(FormatError, match="not LightGBM"):
        load_lightgbm(saved_models["isolation_forest"][0], keys[1])
    with pytest.raises(FormatError, match="not an IsolationForest"):
        load_isolation_forest(saved_models["lightgbm"][0], keys[1])
    with pytest.raises(FormatError, match="needs the detector class registry"):
        load_model(saved_models["detector"][0], keys[1])


@pytest.mark.parametrize(
    "kwargs",
    [{"n_estimators": 30}, {"n_estimators": 25, "max_features": 0.5, "bootstrap": True},
     {"n_estimators": 10, "max_samples": 40, "contamination": 0.1}],
)
def test_iforest_arrays_reproduce_sklearn_exactly(kwargs: dict[str, Any]) -> None:
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(600, 6)), rng.normal(4, 1, size=(20, 6))])
    forest = IsolationForest(random_state=1, **kwargs).fit(X)
    arrays = IsolationForestArrays.from_sklearn(forest)
    X_new = np.vstack([rng.normal(size=(300, 6)) * 3, X[:5]])
    X_new[::7, 2] = np.nan  # missing values follow scikit-learn's missing-value routing
    np.testing.assert_array_equal(arrays.score_samples(X_new), forest.score_samples(X_new))
    np.testing.assert_array_equal(arrays.decision_function(X_new),
                                  forest.decision_function(X_new))
    np.testing.assert_array_equal(arrays.predict(X_new), forest.predict(X_new))


def test_iforest_round_trip_and_wrong_width(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    table: tuple[pl.DataFrame, np.ndarray],
) -> None:
    path, forest = saved_models["isolation_forest"]
    loaded = load_isolation_forest(path, keys[1])
    np.testing.assert_array_equal(loaded.score_samples(table[0]),
                                  forest.score_samples(table[0].to_numpy()))
    with pytest.raises(FormatError, match="expected 4 features"):
        loaded.score_samples(np.zeros((2, 3)))


def test_iforest_structure_check_refuses_cycles_and_out_of_range(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
) -> None:
    good = load_isolation_forest(saved_models["isolation_forest"][0], keys[1])
    good.check_structure("ok")
    looped = {**good.nodes, "left": good.nodes["left"].copy()}
    looped["left"][int(np.argmax(looped["left"] > 0))] = 0  # child pointing back at the root
    bad_feature = {**good.nodes, "feature": good.nodes["feature"] + 100}
    for nodes in (looped, bad_feature):
        with pytest.raises(UnsafeArtifactError, match="structurally invalid"):
            IsolationForestArrays.from_arrays(good.meta(), {**good.arrays(), **nodes}, "x")


@pytest.mark.data
def test_iforest_arrays_match_sklearn_on_nsl_kdd(
    keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    """Real data: train on NSL-KDD normal traffic, score KDDTest+, compare every score."""
    base = need_data("nsl_kdd")

    def numeric(name: str, rows: int) -> pl.DataFrame:
        with gzip.open(base / name, "rb") as fh:
            df = pl.read_csv(fh.read(), has_header=False, n_rows=rows)
        return df.select([c for c, t in df.schema.items() if t.is_numeric()][:38])

    train, test = numeric("KDDTrain+.txt.gz", 20_000), numeric("KDDTest+.txt.gz", 22_544)
    forest = IsolationForest(n_estimators=100, random_state=0).fit(train.to_numpy())
    save_isolation_forest(forest, tmp_path / "kdd", keys[0], name="kdd-iforest")
    loaded = load_isolation_forest(tmp_path / "kdd", keys[1])
    np.testing.assert_array_equal(loaded.score_samples(test), forest.score_samples(test.to_numpy()))


def test_float32_threshold_rounding_preserves_every_comparison() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=20_000).astype(np.float32)
    t = np.concatenate([x.astype(np.float64) + rng.normal(scale=1e-9, size=20_000),
                        x.astype(np.float64), [1e39, -1e39, np.inf, -np.inf] * 5_000])
    xs = np.concatenate([x, x, np.array([3e38, -3e38, np.inf, -np.inf] * 5_000,
                                        dtype=np.float32)])
    np.testing.assert_array_equal(xs <= t, xs <= _round_down_f32(t))
