from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb
import numpy as np
import pytest
from tests.correlate.conftest import T0, frame, make_alert

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.correlate import EntityCorrelator
from mirrorguard.errors import ConfigError, MirrorguardError
from mirrorguard.learn import (
    AcceptAll,
    AnalystLoop,
    DetectorWeights,
    RetrainItem,
    ScreenDecision,
    Thresholds,
    Verdict,
    VerdictContext,
    context_for,
    select,
)
from mirrorguard.respond import SuppressionBook
from mirrorguard.schema.alerts import VerdictLabel

FP, TP, BTP = (VerdictLabel.FALSE_POSITIVE, VerdictLabel.TRUE_POSITIVE,
               VerdictLabel.BENIGN_TRUE_POSITIVE)


def _v(label: VerdictLabel, scope: str = "entity", target: str = "a1",
       analyst: str = "alice") -> Verdict:
    return Verdict("alert", target, analyst, label, "why", scope, T0)  # type: ignore[arg-type]


def test_automation_cannot_give_verdicts_and_scope_is_checked() -> None:
    with pytest.raises(ConfigError):
        _v(FP, analyst="automation")
    with pytest.raises(ConfigError):
        _v(FP, scope="universe")


def test_verdict_effects_and_records() -> None:
    bus = EventBus()
    seen: list[BusEvent] = []
    bus.subscribe(seen.append)
    con = duckdb.connect()
    # the effects themselves, without the feedback guard (tests/learn/test_guarded.py has it)
    loop = AnalystLoop(bus=bus, con=con, screen=AcceptAll(),
                       thresholds=Thresholds({"ueba": (0.5, 0.3, 0.9)}))
    ctx = VerdictContext("ueba", "volume", ("host:backup01",), 0.8, ("a1",))
    out = loop.record(_v(FP), ctx)
    assert out.proposal is not None and out.proposal.entities == ("host:backup01",)
    assert out.proposal.expires_at == T0 + timedelta(days=30)
    assert out.weight is not None and out.weight < 1 and out.threshold is not None
    assert out.threshold > 0.5
    assert loop.retrain.drain() == [RetrainItem("ueba", "a1", 0, out.verdict.id)]
    tp = loop.record(_v(TP, scope="alert", target="a2"), VerdictContext("ueba", score=0.9))
    assert tp.proposal is None and tp.weight is not None and tp.weight > out.weight
    rule = loop.record(_v(BTP, scope="rule", target="a3"), VerdictContext("sigma", "r1"))
    assert rule.proposal is not None and rule.proposal.rule == "r1"
    assert [e.kind for e in seen] == ["verdict", "suppression", "verdict", "verdict",
                                      "suppression"]
    assert all(e.actor == "alice" for e in seen)
    rows = con.execute("SELECT label, accepted, weight, status FROM verdicts ORDER BY seq"
                       ).fetchall()
    assert len(rows) == 3 and all(r[1:] == (True, 1.0, "accepted") for r in rows)


@dataclass
class _RejectFrom:
    analyst: str

    def screen(self, verdict: Verdict, context: VerdictContext) -> ScreenDecision:
        ok = verdict.analyst != self.analyst
        return ScreenDecision(ok, "ok" if ok else "analyst under review")


def test_screen_rejection_teaches_nothing_but_is_recorded() -> None:
    con = duckdb.connect()
    loop = AnalystLoop(screen=_RejectFrom("mallory"), con=con)
    out = loop.record(_v(FP, analyst="mallory"), VerdictContext("ueba", "x", ("host:a",)))
    assert not out.decision.accepted and out.proposal is None and out.queued == 0
    assert loop.weights.get("ueba") == 1.0 and len(loop.retrain) == 0
    row = con.execute("SELECT accepted, screen_reason FROM verdicts").fetchall()
    assert row == [(False, "analyst under review")]
    # the stored TP verdicts feed suppression previews
    assert SuppressionBook(con).true_positive_ids() == set()


def test_bounds_hold() -> None:
    w = DetectorWeights(step=0.5, lo=0.3, hi=1.5)
    for _ in range(10):
        w.update("d", "false_positive")
    assert w.get("d") == 0.3
    for _ in range(10):
        w.update("d", "true_positive")
    assert w.get("d") == 1.5
    t = Thresholds({"d": (0.5, 0.4, 0.6)}, eta=1.0)
    assert t.update("d", 0.99, "false_positive") == 0.6
    assert t.update("d", 0.0, "true_positive") == 0.4
    assert t.update("other", 0.5, "true_positive") is None


def test_context_from_correlator() -> None:
    c = EntityCorrelator()
    f = frame(make_alert(0, host="ws1", process="cmd.exe", title="r"), make_alert(1, host="ws1"))
    c.add(f)
    aid = f["alert.id"][0]
    ctx = context_for(c, "alert", aid)
    assert ctx.entities == ("host:ws1",) and ctx.title == "r"
    inc_ctx = context_for(c, "incident", c.incidents()[0].id)
    assert len(inc_ctx.alert_ids) == 2
    with pytest.raises(MirrorguardError):
        context_for(c, "alert", "nope")


def test_active_selection_strategies() -> None:
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.51, 0.49, 0.9, 0.1, 0.7])
    feats = np.array([[0, 0], [0, 0.01], [0, 0.02], [5, 5], [9, 9], [3, 3]], dtype=float)
    assert select(p, feats, 2, "uncertainty", rng).tolist() == [0, 1]
    assert select(p, feats, 2, "top", rng).tolist() == [3, 5]
    # cluster-margin spreads the batch: not three near-copies of the same point
    cm = select(p, feats, 3, "cluster_margin", rng, pool_factor=2)
    assert len(set(cm.tolist())) == 3 and len({tuple(feats[i]) for i in cm}) == 3
    assert len(select(p, feats, 3, "random", rng)) == 3
    with pytest.raises(ConfigError):
        select(p, feats, 2, "magic", rng)  # type: ignore[arg-type]
