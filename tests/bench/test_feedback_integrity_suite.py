"""The feedback-integrity simulation and controls, on synthetic alerts (real ones need data)."""

from __future__ import annotations

import numpy as np

from mirrorguard.bench.suites import feedback_integrity as fi


def _alerts(n: int = 3000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    evidence = rng.beta(6, 1, n)
    return {"evidence": evidence, "truth": rng.random(n) < evidence,
            "detector": rng.choice(["flow.generic", "flow.dns", "flow.http"], n)}


def test_malicious_analyst_is_caught_and_honest_team_is_not() -> None:
    res = fi.simulate(_alerts(), seed=1, n_verdicts=1500, target="flow.generic")
    assert res["malicious_flagged_after"] is not None
    assert res["malicious_flagged_after"] <= 100 and res["malicious_flagged_on"] == "flow.generic"
    assert res["honest_flagged"] == 0 and res["verdicts"] >= 1500
    control = fi.simulate(_alerts(seed=2), seed=2, n_verdicts=3000, malicious=None)
    assert control["honest_flagged"] == 0 and control["malicious_flagged_after"] is None


def test_controls() -> None:
    c = fi._controls()
    assert c["rate_limited"] == c["burst_verdicts"] - 120  # 120 per hour by default
    assert c["bulk_relabel_held"] and c["self_approval_rejected"] and c["peer_approval_accepted"]
