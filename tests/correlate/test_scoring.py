from __future__ import annotations

import math

from mirrorguard.correlate.scoring import evidence, longest_chain, risk_score


def test_longest_chain_allows_any_tactic_of_an_alert() -> None:
    # an alert with tactics {3, 9} can continue a chain from 2 and lead to 12
    assert longest_chain([(0, (2,)), (1, (3, 9)), (2, (12,))]) == 3
    assert longest_chain([(0, (12,)), (1, (2,))]) == 1
    assert longest_chain([]) == 0
    assert longest_chain([(0, (2,)), (1, (2,))]) == 1


def test_evidence_weights_and_clipping() -> None:
    assert evidence([2.0], ["a"]) == math.log(2)
    assert evidence([1.0], ["a"], {"a": 0.5}) == math.log(1.5)


def test_risk_monotone_and_bounded() -> None:
    assert 0 <= risk_score(0, 0, 0) < risk_score(1, 1, 1) < risk_score(1, 4, 1)
    assert risk_score(1, 4, 1) < risk_score(1, 4, 3) < 100
