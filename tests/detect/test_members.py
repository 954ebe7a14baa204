from __future__ import annotations

import numpy as np
import pytest

from mirrorguard.detect.autoencoder import AutoencoderScorer
from mirrorguard.detect.calibrate import TailNormaliser
from mirrorguard.detect.members import CentroidScorer, HistogramScorer, TailScorer

RNG = np.random.default_rng(0)
Z = RNG.normal(size=(2000, 5))
OUT = np.array([[8.0, 0, 0, 0, 0], [0, 0, -9.0, 0, 0]])


@pytest.mark.parametrize(
    "member",
    [HistogramScorer(), TailScorer(), CentroidScorer(8), AutoencoderScorer(epochs=3)],
    ids=lambda m: m.kind,
)
def test_additive_scores_flag_outliers(member: object) -> None:
    m = member.fit(Z, seed=0)  # type: ignore[attr-defined]
    inliers = m.score(Z[:200])
    c = m.contributions(OUT)
    np.testing.assert_allclose(m.score(OUT), c.sum(axis=1), rtol=1e-6, atol=1e-6)
    assert (m.score(OUT) > np.quantile(inliers, 0.99)).all()
    # the deviating column carries the largest part
    assert c[0].argmax() == 0 and c[1].argmax() == 2


def test_beyond_range_keeps_ranking() -> None:
    h = HistogramScorer().fit(Z, seed=0)
    far = np.zeros((3, 5))
    far[:, 0] = [10.0, 100.0, 1000.0]
    s = h.score(far)
    assert s[0] < s[1] < s[2]


def test_shared_bins_cache_gives_same_scores() -> None:
    h, t = HistogramScorer(n_bins=64).fit(Z, 0), TailScorer(n_bins=64).fit(Z, 0)
    cache: dict[object, object] = {}
    np.testing.assert_array_equal(h.score(OUT, cache), h.score(OUT))
    np.testing.assert_array_equal(t.score(OUT, cache), t.score(OUT))
    assert len(cache) == 1


def test_state_round_trip() -> None:
    for m in (HistogramScorer(), TailScorer(), CentroidScorer(4), AutoencoderScorer(epochs=1)):
        m.fit(Z, seed=1)
        meta, arrays = m.get_state()
        again = type(m).from_state(meta, arrays)
        np.testing.assert_array_equal(again.score(OUT), m.score(OUT))


def test_tail_normaliser_is_monotone_and_extrapolates() -> None:
    n = TailNormaliser().fit(RNG.exponential(size=5000))
    s = n.transform(np.array([0.1, 1.0, 5.0, 50.0, 500.0]))
    assert np.all(np.diff(s) > 0)
    assert 0 < n.transform(np.array([np.log(10.0)]))[0] < 3.0  # ~ -log(0.1) = 2.3
    assert (n.secant(np.array([5.0, 50.0])) > 0).all()


def _split_data() -> tuple[object, np.ndarray, np.ndarray, np.ndarray]:
    import polars as pl

    from mirrorguard.features.transforms import TabularTransformer

    rng = np.random.default_rng(4)
    n = 1500
    frame = pl.DataFrame({
        "bytes": rng.lognormal(7, 1, n), "rate": rng.beta(2, 5, n),
        "proto": rng.choice(["tcp", "udp", "icmp"], n, p=[0.7, 0.25, 0.05]),
        "service": rng.choice(["http", "dns", "ssh", "ftp", "smtp"], n),
    })
    tf = TabularTransformer(dtype="float32").fit(frame)
    probe = frame.head(300).with_columns(  # out-of-range values and unseen categories
        pl.Series("bytes", np.r_[rng.lognormal(7, 1, 290), [1e9] * 5, [0.0] * 5]),
        pl.Series("service", ["gopher"] * 10 + frame["service"].head(290).to_list()),
    )
    A, codes = tf.split(probe)
    return tf, tf.transform(frame), A, codes


@pytest.mark.parametrize("member", [HistogramScorer(), TailScorer(), CentroidScorer(12),
                                    AutoencoderScorer(epochs=2)], ids=lambda m: m.kind)
def test_split_scoring_equals_scoring_the_expanded_matrix(member: object) -> None:
    tf, Z_fit, A, codes = _split_data()
    m = member.fit(Z_fit, seed=0)  # type: ignore[attr-defined]
    layout = tf.layout()  # type: ignore[attr-defined]
    m.prepare(layout)
    full = m.score(layout.expand(A, codes))
    np.testing.assert_allclose(m.score_split(A, codes), full, rtol=2e-5, atol=2e-4)


def test_split_scoring_needs_prepare() -> None:
    from mirrorguard.features.transforms import NotFittedError

    _, Z_fit, A, codes = _split_data()
    with pytest.raises(NotFittedError):
        HistogramScorer().fit(Z_fit, seed=0).score_split(A, codes)


def test_code_tables_merge_groups_within_the_limit() -> None:
    from mirrorguard.detect.members import CodeTables

    rng = np.random.default_rng(0)
    tables = [rng.normal(size=(k, 3)) for k in (4, 5, 30, 2)]
    merged = CodeTables(tables, limit=25)
    assert [g[0] for g in merged.groups] == [[0, 1], [2], [3]]
    codes = np.stack([rng.integers(0, k, 50) for k in (4, 5, 30, 2)], axis=1)
    out = np.zeros((50, 3))
    merged.add_to(out, codes)
    expected = sum(t[codes[:, f]] for f, t in enumerate(tables))
    np.testing.assert_allclose(out, expected)
