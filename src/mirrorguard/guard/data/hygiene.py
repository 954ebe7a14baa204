"""Data hygiene: duplicates, near-duplicates, train/test leakage and distribution shift.

* **Duplicates** — exact repeats of the feature vector (Polars row hashing over all columns);
  repeats carrying different labels are *conflicting* duplicates.
* **Near-duplicates** — rows whose nearest other row, in the scaled dense space, is closer than
  ``eps`` without being an exact repeat.
* **Leakage** — test rows whose exact feature vector is in the training set, and test rows
  within ``eps`` of a training row.
* **Shift** — per column, the two-sample Kolmogorov–Smirnov statistic (numeric) or the total
  variation distance between category frequencies, and a domain classifier (LightGBM told to
  separate training rows from reference rows; out-of-fold AUC near 0.5 means no shift), after
  Rabanser, Günnemann & Lipton, "Failing Loudly", NeurIPS 2019.

>>> import polars as pl
>>> X = pl.DataFrame({"a": [1, 1, 2, 3], "b": ["x", "x", "y", "z"]})
>>> dup, conflict = duplicates(X, np.array([0, 1, 0, 0]))
>>> dup.tolist(), conflict.tolist()
([True, True, False, False], [True, True, False, False])
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors

from mirrorguard.guard.data.prep import TabularEncoder


def duplicates(X: pl.DataFrame, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row is one of several identical rows, its identical rows carry more than one label)."""
    h = X.hash_rows(seed=0)
    frame = pl.DataFrame({"h": h, "y": codes})
    stats = frame.group_by("h").agg(pl.len().alias("n"), pl.col("y").n_unique().alias("k"))
    joined = frame.join(stats, on="h", how="left", maintain_order="left")
    dup: np.ndarray = (joined["n"] > 1).to_numpy()
    conflict: np.ndarray = (joined["k"] > 1).to_numpy()
    return dup, conflict


def near_duplicates(nearest: np.ndarray, exact: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Rows within ``eps`` of another row that are not exact duplicates."""
    out: np.ndarray = (nearest <= eps) & ~exact
    return out


def leakage(train: pl.DataFrame, test: pl.DataFrame, enc: TabularEncoder, *,
            eps: float = 1e-3, max_test: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Exact and near overlap of ``test`` with ``train`` (near overlap on a seeded sample)."""
    cols = train.columns
    exact = test.select(cols).hash_rows(seed=0).is_in(train.hash_rows(seed=0).implode()).to_numpy()
    rng = np.random.default_rng(seed)
    sample = rng.choice(test.height, size=min(max_test, test.height), replace=False)
    nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(enc.dense(train))
    d, _ = nn.kneighbors(enc.dense(test.select(cols)[np.sort(sample)]))
    near = d[:, 0] <= eps
    return {
        "test_rows": test.height, "exact_in_train": int(exact.sum()),
        "exact_share": float(exact.mean()) if test.height else 0.0,
        "near_sampled": int(sample.size), "near_share": float(near.mean()) if sample.size else 0.0,
        "exact_rows": np.flatnonzero(exact),
    }


def column_shift(train: pl.DataFrame, ref: pl.DataFrame, enc: TabularEncoder) -> pl.DataFrame:
    """Per column: KS statistic and p-value (numeric) or total variation distance (categorical)."""
    rows: list[dict[str, Any]] = []
    for c in enc.numeric_:
        a = train[c].cast(pl.Float64, strict=False).drop_nulls().to_numpy()
        b = ref[c].cast(pl.Float64, strict=False).drop_nulls().to_numpy()
        if a.size and b.size:
            res = ks_2samp(a, b)
            rows.append({"column": c, "test": "ks", "statistic": float(res.statistic),
                         "p_value": float(res.pvalue)})
    for c in enc.categorical_:
        fa = train[c].cast(pl.String).value_counts(normalize=True, name="pa")
        fb = ref[c].cast(pl.String).value_counts(normalize=True, name="pb")
        j = fa.join(fb, on=c, how="full", coalesce=True).fill_null(0.0)
        tvd = 0.5 * float((j["pa"] - j["pb"]).abs().sum())
        rows.append({"column": c, "test": "tvd", "statistic": tvd, "p_value": float("nan")})
    schema = {"column": pl.String, "test": pl.String, "statistic": pl.Float64,
              "p_value": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("statistic", descending=True)


def domain_auc(train_tree: np.ndarray, ref_tree: np.ndarray, cat_index: list[int], *,
               max_rows: int = 10_000, seed: int = 0) -> float:
    """Out-of-fold AUC of a LightGBM classifier separating training rows from reference rows."""
    rng = np.random.default_rng(seed)
    a = train_tree[rng.choice(len(train_tree), min(max_rows, len(train_tree)), replace=False)]
    b = ref_tree[rng.choice(len(ref_tree), min(max_rows, len(ref_tree)), replace=False)]
    X = np.vstack([a, b])
    y = np.r_[np.zeros(len(a), dtype=np.int64), np.ones(len(b), dtype=np.int64)]
    oof = np.zeros(len(y))
    params: dict[str, object] = {"objective": "binary", "num_leaves": 15, "max_bin": 63,
                                 "seed": seed, "num_threads": 1, "verbosity": -1}
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=seed).split(X, y):
        booster = lgb.train(params, lgb.Dataset(X[tr], label=y[tr],
                                                categorical_feature=cat_index), 50)
        oof[te] = booster.predict(X[te])
    return float(roc_auc_score(y, oof))
