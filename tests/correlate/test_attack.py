from __future__ import annotations

from mirrorguard.correlate.attack import TacticMap


def test_default_map_has_enterprise_order_and_subtechnique_fallback() -> None:
    tm = TacticMap.default()
    assert tm.order[0] == "reconnaissance" and tm.order[-1] == "impact"
    assert len(tm.order) == 14
    assert tm.tactics("t1059.001") == ("execution",)
    assert tm.tactics("attack.t1059.001") == ("execution",)
    assert tm.tactics("T1078.999") == tm.tactics("T1078")
    assert tm.tactics("T9999") == ()
    assert tm.stages(["T1566.001", "T1041"]) == (2, 12)
    assert tm.stage("nonsense") == -1
