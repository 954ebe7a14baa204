from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from mirrorguard.guard.data.feedback import Action, FeedbackConfig, FeedbackGuard, FeedbackVerdict
from mirrorguard.schema.alerts import VerdictLabel

T = datetime(2024, 1, 1, tzinfo=UTC)
TP, FP = VerdictLabel.TRUE_POSITIVE, VerdictLabel.FALSE_POSITIVE


def _stream(guard: FeedbackGuard, n: int, seed: int, bad: str | None) -> None:
    rng = np.random.default_rng(seed)
    for k in range(n):
        analyst = f"a{k % 5}"
        ev = float(rng.beta(5, 1))
        truth_tp = rng.random() < ev
        says_tp = truth_tp != (rng.random() < 0.005)
        if analyst == bad and says_tp and rng.random() < 0.3:
            says_tp = False
        guard.review(FeedbackVerdict(analyst, T + timedelta(minutes=5 * k), f"x{k}", "d",
                                     TP if says_tp else FP, ev))


def test_malicious_analyst_is_flagged_and_honest_ones_are_not() -> None:
    guard = FeedbackGuard()
    _stream(guard, 1500, 0, "a3")
    flagged = guard.flagged()
    assert list(flagged) == ["a3"] and int(flagged["a3"]["after"]) <= 100  # type: ignore[call-overload]
    rep = guard.analyst_report()
    assert rep.filter(rep["analyst"] == "a3")["weight"][0] == 0.0
    later = guard.review(FeedbackVerdict("a3", T + timedelta(days=30), "y", "d", TP, 0.9))
    assert later.action is Action.HOLD and later.analyst_flagged
    clean = FeedbackGuard()
    _stream(clean, 3000, 1, None)
    assert clean.flagged() == {}


def test_contradiction_rate_limit_and_two_person_rule() -> None:
    guard = FeedbackGuard(FeedbackConfig(rate_per_hour=10))
    d = guard.review(FeedbackVerdict("a", T, "1", "d", TP, 0.01))
    assert d.contradicts_evidence and d.action is Action.DOWNWEIGHT and d.weight < 0.5
    actions = [guard.review(FeedbackVerdict("a", T + timedelta(minutes=k), f"r{k}", "d", TP,
                                            0.6)).action for k in range(12)]
    assert actions.count(Action.REJECT) == 3  # 10 per hour, one was used above
    small = guard.review(FeedbackVerdict("b", T, "", "d", FP, 0.5, scope="relabel", affected=3))
    assert small.action is not Action.HOLD
    big = guard.review(FeedbackVerdict("b", T, "", "d", FP, 0.5, scope="relabel", affected=80))
    assert big.action is Action.HOLD and big.request_id
    assert guard.approve(big.request_id, "b", T).action is Action.REJECT
    assert guard.approve(big.request_id, "c", T).action is Action.ACCEPT
    assert guard.approve(big.request_id, "c", T).action is Action.REJECT  # used up


def test_peer_agreement_is_reported() -> None:
    guard = FeedbackGuard()
    for k in range(10):
        guard.review(FeedbackVerdict("p", T, f"al{k}", "d", TP, 0.9))
        guard.review(FeedbackVerdict("q", T, f"al{k}", "d", TP if k < 8 else FP, 0.9))
    rep = {r["analyst"]: r for r in guard.analyst_report().to_dicts()}
    assert rep["q"]["peer_agreement"] == 0.8 and rep["p"]["peer_reviews"] == 10
