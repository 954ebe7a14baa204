"""The poison suite's own machinery: attack injection, metrics, one small end-to-end attack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.conftest import DATA_DIR, need_data

from mirrorguard.bench.harness import BenchContext
from mirrorguard.bench.suites import poison
from mirrorguard.guard.data.labels import LabelParams
from mirrorguard.guard.data.prep import TabularEncoder
from mirrorguard.guard.data.screen import ScreenConfig


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> poison.Split:
    need_data("nsl_kdd")
    ctx = BenchContext(data_dir=DATA_DIR, work_dir=tmp_path_factory.mktemp("p"), seed=0)
    return poison._load(ctx, "nsl_kdd", 1500, 1000, 1500)


def test_splits_are_disjoint_and_seeded(split: poison.Split, tmp_path: Path) -> None:
    assert split.train.height == 1500 and split.reference.height == 1000
    both = split.train.join(split.reference, on=split.train.columns, how="inner")
    assert both.height <= 5  # NSL-KDD has very few exact repeats
    again = poison._load(BenchContext(data_dir=DATA_DIR, work_dir=tmp_path, seed=0),
                         "nsl_kdd", 1500, 1000, 1500)
    assert again.train.equals(split.train)


def test_injections(split: poison.Split) -> None:
    rng = np.random.default_rng(0)
    X, y, truth, info = poison.inject(split, "flip_random_10", rng)
    assert truth.sum() == 150 and (y[truth] != split.y[truth]).all()
    assert (y[~truth] == split.y[~truth]).all() and X is split.train
    X, y, truth, info = poison.inject(split, "flip_targeted_10", rng)
    assert (split.cats[truth] == info["category"]).all() and (y[truth] == 0).all()
    X, y, truth, info = poison.inject(split, "backdoor_2", rng)
    trig = info["trigger"]
    assert len(trig) == 3 and (split.y[truth] == 1).all() and (y[truth] == 0).all()
    stamped = X.filter(pl.all_horizontal(pl.col(c) == v for c, v in trig.items()))
    assert stamped.height == truth.sum()  # the combination occurs nowhere else
    clean_hits = split.train.filter(pl.all_horizontal(pl.col(c) == v for c, v in trig.items()))
    assert clean_hits.height == 0


def test_metrics() -> None:
    flag = np.array([True, True, False, False])
    truth = np.array([True, False, True, False])
    assert poison._pr(flag, truth) == {"flagged": 2, "precision": 0.5, "recall": 0.5,
                                       "clean_flag_rate": 0.5}


def test_one_attack_end_to_end(split: poison.Split) -> None:
    ev = poison._Evaluator(split, TabularEncoder().fit(split.train), 0)
    cfg = ScreenConfig(labels=LabelParams(n_estimators=30, folds=3))
    out, base = poison._run_attack(split, "flip_random_10", ev, cfg, 0)
    assert out["precision"] >= 0.8 and out["recall"] >= 0.8
    assert out["auc_sanitized"] >= out["auc_poisoned"] - 0.01
    assert base["random_filter"]["flagged"] == out["flagged"]
    assert 0.0 <= base["cleanlab"]["precision"] <= 1.0
