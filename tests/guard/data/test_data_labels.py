from __future__ import annotations

import numpy as np

from mirrorguard.guard.data.labels import (
    LabelParams,
    class_neighbours,
    confident_offdiagonal,
    density_ratio,
    knn_probabilities,
    label_screen,
    mean_views,
    restrict,
    stack_views,
)
from mirrorguard.guard.data.prep import TabularEncoder

from .conftest import blobs


def test_neighbours_leave_the_row_out_but_keep_twins() -> None:
    D = np.array([[0.0], [0.0], [10.0], [10.1]], dtype=np.float32)
    nb = class_neighbours(D, np.array([0, 1, 1, 1]), 2, k=2)
    assert nb.index[0, 0, 0] == -1  # itself never counted (class 0 has only row 0)
    assert not np.isfinite(nb.dist[0, 0]).any()
    assert nb.index[0, 1, 0] == 1 and nb.dist[0, 1, 0] == 0.0  # its twin in class 1 is kept
    share = knn_probabilities(nb)
    assert share[0, 1] > share[0, 0]
    assert density_ratio(nb)[0] > 0.5
    kept = restrict(nb, np.array([True, False, True, True]), 1)
    assert kept.index[0, 1, 0] in (2, 3)


def test_confident_offdiagonal_uses_per_class_thresholds() -> None:
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.88, 0.12]])
    off, best = confident_offdiagonal(p, np.array([0, 0, 1, 1, 1]))
    assert off.tolist() == [False, False, False, False, True] and best[4] == 0


def test_label_screen_finds_flips_and_spares_clean_rows() -> None:
    X, y = blobs(600, seed=1)
    rng = np.random.default_rng(0)
    flipped = rng.choice(600, 60, replace=False)
    y_noisy = y.copy()
    y_noisy[flipped] = 1 - y_noisy[flipped]
    enc = TabularEncoder().fit(X)
    tree, dense = enc.tree(X), enc.dense(X)
    params = LabelParams(n_estimators=30, folds=3)
    nb = class_neighbours(dense, y_noisy, 2, k=2 * params.k)
    sig = label_screen(tree, dense, y_noisy, 2, enc.categorical_index, nb, params)
    truth = np.zeros(600, dtype=bool)
    truth[flipped] = True
    tp = (sig.flag & truth).sum()
    assert tp / truth.sum() >= 0.9
    assert tp / max(sig.flag.sum(), 1) >= 0.9
    assert (sig.suggested[flipped] == y[flipped]).mean() >= 0.9
    clean = label_screen(tree, dense, y, 2, enc.categorical_index,
                         class_neighbours(dense, y, 2, k=20), params)
    assert clean.flag.mean() <= 0.01


def test_stacking_learns_to_distrust_a_useless_view() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2, 4000)
    good = np.where(codes[:, None] == np.arange(2), 0.9, 0.1)
    noise = rng.dirichlet([1.0, 1.0], 4000)  # a view that knows nothing
    proba = {"lightgbm": good, "logistic": noise, "knn": noise}
    stacked = stack_views(proba, codes, 2)
    own = np.arange(4000), codes
    assert stacked[own].mean() > mean_views(proba)[own].mean() + 0.2
    single = codes.copy()
    single[:] = 0  # one class only: the meta-model cannot be fitted, fall back to the mean
    assert np.allclose(stack_views(proba, single, 2), mean_views(proba))


def test_anchor_rows_train_but_are_never_judged() -> None:
    X, y = blobs(600, seed=2)
    ref, y_ref = blobs(400, seed=3)
    y = y.copy()
    y[:25] = 1 - y[:25]
    y_ref = y_ref.copy()
    y_ref[:10] = 1 - y_ref[:10]  # the reference's own noise is not our business
    enc = TabularEncoder().fit(X)
    tree = np.vstack([enc.tree(X), enc.tree(ref)])
    dense = np.vstack([enc.dense(X), enc.dense(ref)])
    codes = np.r_[y, y_ref]
    anchor = np.arange(len(codes)) >= len(y)
    nb = class_neighbours(dense, codes, 2, k=20)
    sig = label_screen(tree, dense, codes, 2, enc.categorical_index, nb,
                       LabelParams(combine="stack"), anchor=anchor)
    assert not sig.flag[anchor].any()
    assert sig.flag[:25].mean() >= 0.8 and sig.flag[25:len(y)].mean() < 0.02
    head = sig.head(len(y))
    assert head.flag.shape == (len(y),) and head.proba["ensemble"].shape == (len(y), 2)
