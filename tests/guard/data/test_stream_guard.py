from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mirrorguard.detect.policy import ThresholdPolicy
from mirrorguard.detect.streaming import StreamingHistogram
from mirrorguard.errors import IntegrityError
from mirrorguard.guard.data.stream_guard import GuardedStreamingHistogram
from mirrorguard.guard.keys import Signer, Verifier, generate_keypair


def _batch(rng: np.random.Generator, n: int, scale: float = 1.0) -> pl.DataFrame:
    return pl.DataFrame({"bytes": rng.lognormal(8, 0.3, n) * scale,
                         "packets": rng.poisson(20, n).astype(np.int64),
                         "delta": rng.normal(0, 1, n)})  # signed: never budgeted


def _pair(seed: int = 0) -> tuple[GuardedStreamingHistogram, StreamingHistogram, float,
                                   np.random.Generator]:
    rng = np.random.default_rng(seed)
    hist = _batch(rng, 6000)
    guarded = GuardedStreamingHistogram().fit(hist)
    plain = StreamingHistogram().fit(hist)
    guarded.anchor(Signer(generate_keypair()[0]))
    threshold = ThresholdPolicy(target_fpr=0.001).fit(plain.score(hist)).threshold_
    return guarded, plain, float(threshold), rng


def test_slow_drift_is_flagged_and_not_absorbed() -> None:
    guarded, plain, threshold, rng = _pair()
    assert guarded.volume_columns_ == ["bytes", "packets"]
    for w in range(30):  # the attacker: +8 % per batch, each batch alone looks normal
        day = _batch(rng, 500, 1.08 ** (w + 1))
        guarded.learn(day)
        plain.learn(day)
    assert [f["key"] for f in guarded.drift_findings()] == ["bytes"]
    assert guarded.held().tolist() == ["bytes"]
    exfil = pl.DataFrame({"bytes": [np.exp(8) * 1.08 ** 31], "packets": [20], "delta": [0.0]})
    assert guarded.score(exfil)[0] >= threshold  # still anomalous to the guarded detector
    assert plain.score(exfil)[0] < threshold  # the unguarded one learned to accept it


def test_honest_batches_raise_nothing_and_learn_normally() -> None:
    guarded, plain, threshold, rng = _pair(1)
    for _ in range(30):
        day = _batch(rng, 500)
        guarded.learn(day)
        plain.learn(day)
    assert guarded.drift_findings() == [] and guarded.held().size == 0
    probe = _batch(rng, 5000)
    g, u = guarded.score(probe), plain.score(probe)
    # extreme honest values are clipped before learning (by design), so single scores move a
    # little; the false-alarm rate on honest traffic must not
    assert abs(g.mean() - u.mean()) / u.mean() < 0.05
    assert (g >= threshold).mean() <= max(0.005, 2 * (u >= threshold).mean())


def test_anchor_needs_history_and_a_valid_signature() -> None:
    det = GuardedStreamingHistogram()
    with pytest.raises(ValueError, match="fit"):
        det.anchor(Signer(generate_keypair()[0]))
    rng = np.random.default_rng(2)
    det.fit(_batch(rng, 1000))
    signed = det.anchor(Signer(generate_keypair()[0]))
    other = Verifier(generate_keypair()[1])
    with pytest.raises(IntegrityError):
        det.attach(signed, other)
    det.learn(_batch(rng, 100).with_columns(pl.lit(None, dtype=pl.Float64).alias("bytes")))
    assert det.updates_ == 1  # nulls are skipped, not judged


def test_a_saved_guarded_detector_carries_on_guarded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mirrorguard.detect.registry import rebuild
    from mirrorguard.guard.artifacts.detector_io import load_detector, save_detector

    guarded, _, _, rng = _pair(3)
    for w in range(8):
        guarded.learn(_batch(rng, 500, 1.08 ** (w + 1)))
    meta, arrays = guarded.get_state()
    again = rebuild("streaming_hbos_guarded", guarded.get_params(), meta, arrays)
    assert isinstance(again, GuardedStreamingHistogram)
    priv, pub = generate_keypair()
    save_detector(guarded, tmp_path / "m", Signer(priv))
    loaded = load_detector(tmp_path / "m", Verifier(pub),
                           {"streaming_hbos_guarded": GuardedStreamingHistogram})
    rest = [_batch(rng, 500, 1.08 ** (w + 9)) for w in range(22)]
    for det in (guarded, again, loaded):
        for day in rest:
            det.learn(day)
    keys = [[f["key"] for f in d.drift_findings()] for d in (guarded, again, loaded)]
    assert keys[0] == keys[1] == keys[2] == ["bytes"]
    probe = _batch(rng, 50)
    np.testing.assert_array_equal(guarded.score(probe), loaded.score(probe))
