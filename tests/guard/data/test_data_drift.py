from __future__ import annotations

import numpy as np
import pytest

from mirrorguard.errors import IntegrityError
from mirrorguard.guard.data.drift import (
    Anchor,
    BudgetConfig,
    DriftBudget,
    GuardedBaseline,
    SignedAnchor,
    mann_kendall,
)
from mirrorguard.guard.keys import Signer, Verifier, generate_keypair


def _anchor(rng: np.random.Generator, keys: tuple[str, ...] = ("a", "b", "c")) -> Anchor:
    k = np.repeat(keys, 240)
    w = np.tile(np.repeat(np.arange(10), 24), len(keys))
    return Anchor.from_values(k, w, rng.lognormal(8, 0.4, k.size))


def test_signed_anchor_round_trip_and_tampering() -> None:
    priv, pub = generate_keypair()
    signed = _anchor(np.random.default_rng(0)).sign(Signer(priv))
    again = SignedAnchor.from_json(signed.to_json())
    assert again.verify(Verifier(pub)).keys == ["a", "b", "c"]
    forged = SignedAnchor(signed.payload.replace(b'"center":[', b'"center":[9'),
                          signed.signature, signed.key_id)
    with pytest.raises(IntegrityError):
        DriftBudget(forged, Verifier(pub))
    with pytest.raises(IntegrityError):
        DriftBudget(signed, Verifier(generate_keypair()[1]))


def test_mann_kendall() -> None:
    h = np.array([[1.0, 2, 3, 4, 5, 6, 7, 8], [3.0, 1, 4, 1, 5, 9, 2, 6],
                  [8.0, 7, 6, 5, 4, 3, 2, 1]])
    s, p = mann_kendall(h, np.array([8, 8, 8]))
    assert s.tolist()[0] == 28 and s.tolist()[2] == -28
    assert p[0] < 1e-3 < p[1] and p[2] > 0.99
    s5, _ = mann_kendall(h, np.array([5, 5, 5]))
    assert s5[0] == 10


def test_slow_drift_is_held_honest_keys_are_not() -> None:
    rng = np.random.default_rng(1)
    priv, pub = generate_keypair()
    budget = DriftBudget(_anchor(rng).sign(Signer(priv)), Verifier(pub))
    start = budget.level.copy()
    for w in range(30):
        keys = np.repeat(["a", "b", "c"], 24)
        vals = rng.lognormal(8, 0.4, 72) * np.repeat([1.0, 1.06 ** (w + 1), 1.0], 24)
        admitted, _ = budget.admit(keys, vals, window=w)
        cap = budget.level[1] + BudgetConfig().clip_margin * budget.anchor.hi[1]
        assert admitted[24:48].max() <= np.expm1(cap) + 1e-6
    assert budget.held_keys() == ["b"]
    found = [f for f in budget.findings if f["key"] == "b"]
    assert found[0]["kind"] in {"monotone_drift", "sustained_shift"} and found[0]["windows"] >= 3
    assert budget.level[1] - start[1] <= 30 * BudgetConfig().per_window + 1e-9
    assert abs(budget.level[0] - start[0]) < 0.1


def test_unknown_keys_pass_and_generic_baseline() -> None:
    rng = np.random.default_rng(2)
    priv, pub = generate_keypair()
    budget = DriftBudget(_anchor(rng).sign(Signer(priv)), Verifier(pub))
    vals, found = budget.admit(np.array(["zz", "a"]), np.array([1e12, 1e12]))
    assert vals[0] == 1e12 and vals[1] < 1e12 and found == []
    base = GuardedBaseline(budget)
    base.update(np.repeat(["a"], 50), rng.lognormal(8, 0.4, 50))
    assert 1000 < base.quantile("a", 0.5) < 10000
    with pytest.raises(IntegrityError):
        base.quantile("nope", 0.5)
