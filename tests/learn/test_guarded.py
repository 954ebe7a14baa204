"""The feedback-integrity guard wired into the analyst loop (issue #7, item 3)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pytest

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.errors import ConfigError, MirrorguardError
from mirrorguard.guard.data.feedback import FeedbackConfig
from mirrorguard.learn import (
    AcceptAll,
    AnalystLoop,
    DetectorWeights,
    GuardedFeedbackScreen,
    ScreenDecision,
    Thresholds,
    Verdict,
    VerdictContext,
    feedback_verdict,
)
from mirrorguard.schema.alerts import VerdictLabel

T = datetime(2024, 5, 6, 8, tzinfo=UTC)
TP, FP, BTP = (VerdictLabel.TRUE_POSITIVE, VerdictLabel.FALSE_POSITIVE,
               VerdictLabel.BENIGN_TRUE_POSITIVE)


def _v(analyst: str, label: VerdictLabel, k: int, scope: str = "alert",
       kind: str = "alert") -> Verdict:
    return Verdict(kind, f"a{k}", analyst, label, "why", scope,  # type: ignore[arg-type]
                   T + timedelta(minutes=3 * k))


def _ctx(k: int, p: float | None, detector: str = "beacon", n: int = 1,
         entities: tuple[str, ...] = ()) -> VerdictContext:
    """A context whose alert score is also a calibrated probability (``evidence``)."""
    ids = (f"a{k}",) if n == 1 else tuple(f"a{k}-{i}" for i in range(n))
    return VerdictContext(detector, "rule", entities, p, ids, evidence=p)


def _stream(loop: AnalystLoop, n: int, seed: int, bad: str | None, flip: float = 0.4,
            calibrated: bool = True) -> dict[str, list[ScreenDecision]]:
    """Five analysts label alerts with calibrated evidence (passed on or not); ``bad`` turns a
    share ``flip`` of its true positives on ``beacon`` into false positives."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[ScreenDecision]] = {}
    for k in range(n):
        analyst = f"ana{k % 5}"
        ev = float(rng.beta(5, 1))
        says_tp = (rng.random() < ev) != (rng.random() < 0.005)
        if analyst == bad and says_tp and rng.random() < flip:
            says_tp = False
        ctx = _ctx(k, ev) if calibrated else VerdictContext("beacon", score=ev,
                                                            alert_ids=(f"a{k}",))
        o = loop.record(_v(analyst, TP if says_tp else FP, k), ctx)
        out.setdefault(analyst, []).append(o.decision)
    return out


def test_the_guard_is_the_default_screen() -> None:
    assert isinstance(AnalystLoop().screen, GuardedFeedbackScreen)


def test_honest_analysts_are_accepted_at_full_weight() -> None:
    loop = AnalystLoop()
    decisions = _stream(loop, 400, seed=1, bad=None)
    flat = [d for ds in decisions.values() for d in ds]
    assert all(d.accepted for d in flat)
    contradicting = [d for d in flat if d.reason == "contradicts_evidence"]
    plain = [d for d in flat if d.reason == "accepted"]
    assert len(plain) > 0.95 * len(flat)
    # an honest false positive on a high-scoring alert lifts the analyst's CUSUM a little for a
    # while (weight exp(-CUSUM/h)); it decays back to 1 as verdicts agree with the evidence
    w = np.array([d.weight for d in plain])
    assert w.mean() > 0.9 and np.quantile(w, 0.05) > 0.6 and (w == 1.0).mean() > 0.4
    assert all(d.weight <= 0.25 for d in contradicting)
    assert isinstance(loop.screen, GuardedFeedbackScreen) and loop.screen.guard.flagged() == {}
    # verdicts that agree with the evidence count in full, and teach what AcceptAll teaches
    # confirmed true positives count in full and teach what AcceptAll teaches; a false positive
    # on a low-scoring alert costs next to nothing
    plain_loop, ref = AnalystLoop(), AnalystLoop(screen=AcceptAll())
    for k in range(20):
        v, ctx = _v("zoe", TP, k), _ctx(k, 0.6 + 0.02 * k)
        assert plain_loop.record(v, ctx).decision.weight == 1.0
        ref.record(v, ctx)
    assert plain_loop.weights.get("beacon") == ref.weights.get("beacon")
    assert plain_loop.record(_v("zoe", FP, 21), _ctx(21, 0.05)).decision.weight > 0.99


def test_malicious_analyst_flipping_to_fp_is_flagged_then_held() -> None:
    loop = AnalystLoop()
    decisions = _stream(loop, 600, seed=0, bad="ana3")
    assert isinstance(loop.screen, GuardedFeedbackScreen)
    flagged = loop.screen.guard.flagged()
    assert list(flagged) == ["ana3"] and flagged["ana3"]["detector"] == "beacon"
    mine = decisions["ana3"]
    first = next(i for i, d in enumerate(mine) if d.held)
    assert first <= 80 and all(d.held and not d.accepted for d in mine[first:])
    assert "analyst_flagged" in mine[-1].reason and mine[-1].request_id is None
    assert all(d.accepted for a, ds in decisions.items() if a != "ana3" for d in ds)
    # a held verdict teaches nothing
    before = (loop.weights.get("beacon"), len(loop.retrain))
    o = loop.record(_v("ana3", FP, 10_000), _ctx(10_000, 0.9))
    assert o.decision.status == "held" and (loop.weights.get("beacon"), len(loop.retrain)) == before


def test_without_evidence_peers_still_expose_the_flipper() -> None:
    loop = AnalystLoop()  # what context_for gives today: a score, no calibrated evidence
    decisions = _stream(loop, 1500, seed=0, bad="ana3", calibrated=False)
    assert isinstance(loop.screen, GuardedFeedbackScreen)
    assert list(loop.screen.guard.flagged()) == ["ana3"]
    assert not any(d.reason == "contradicts_evidence" for ds in decisions.values() for d in ds)
    assert all(d.accepted for a, ds in decisions.items() if a != "ana3" for d in ds)


def test_detector_scope_is_held_until_another_analyst_approves() -> None:
    bus, seen = EventBus(), list[BusEvent]()
    bus.subscribe(seen.append)
    con = duckdb.connect()
    loop = AnalystLoop(bus=bus, con=con)
    o = loop.record(_v("alice", FP, 1, scope="detector"), _ctx(1, 0.6))
    rid = o.decision.request_id
    assert o.decision.held and rid is not None and o.decision.reason == "two_person_rule"
    assert loop.weights.get("beacon") == 1.0 and len(loop.retrain) == 0
    assert list(loop.pending()) == [rid]
    refused = loop.approve(rid, "alice", T)
    assert not refused.decision.accepted and refused.decision.reason == "self_approval"
    assert list(loop.pending()) == [rid] and loop.weights.get("beacon") == 1.0
    ok = loop.approve(rid, "bob", T + timedelta(minutes=5))
    assert ok.decision.accepted and ok.decision.reason == "approved_by:bob"
    assert ok.weight is not None and ok.weight < 1.0 and ok.queued == 1
    assert loop.pending() == {}
    with pytest.raises(MirrorguardError):
        loop.approve(rid, "carol", T)  # already settled
    assert [(e.actor, e.payload.get("status"), e.payload.get("change")) for e in seen] == [
        ("alice", "held", None), ("alice", None, "approval_refused"), ("bob", None, "approved")]
    row = con.execute("SELECT accepted, status, weight, approved_by, request_id, screen_reason "
                      "FROM verdicts").fetchall()
    assert row == [(True, "approved", 1.0, "bob", rid, "two_person_rule; approved_by:bob")]


def test_approval_needs_a_person_and_a_known_request() -> None:
    loop = AnalystLoop()
    rid = loop.record(_v("alice", FP, 1, scope="detector"), _ctx(1, 0.6)).decision.request_id
    with pytest.raises(ConfigError):
        loop.approve(rid or "", "automation", T)
    with pytest.raises(MirrorguardError):
        loop.approve("req-nope", "bob", T)
    loop = AnalystLoop(screen=_HoldAll())
    rid = loop.record(_v("alice", TP, 1), _ctx(1, 0.9)).decision.request_id
    with pytest.raises(ConfigError):  # a screen that holds but has no approvals
        loop.approve(rid or "", "bob", T)


class _HoldAll:
    def screen(self, verdict: Verdict, context: VerdictContext) -> ScreenDecision:
        return ScreenDecision(False, "held", 0.0, held=True, request_id="req-" + verdict.id)


def test_contradicting_strong_evidence_is_downweighted_and_teaches_less() -> None:
    def run(screen: GuardedFeedbackScreen | AcceptAll) -> tuple[AnalystLoop, ScreenDecision]:
        loop = AnalystLoop(screen=screen, thresholds=Thresholds({"beacon": (0.5, 0.1, 0.99)}))
        return loop, loop.record(_v("alice", FP, 1), _ctx(1, 0.99)).decision

    full, d_full = run(AcceptAll())
    guarded, d = run(GuardedFeedbackScreen())
    assert d.accepted and d.reason == "contradicts_evidence" and 0 < d.weight <= 0.25
    assert d_full.weight == 1.0
    # the weight is the fraction of a verdict learned, in every effect
    log_full = math.log(full.weights.get("beacon"))
    assert math.log(guarded.weights.get("beacon")) == pytest.approx(d.weight * log_full)
    step_full = full.thresholds.values["beacon"][0] - 0.5
    assert guarded.thresholds.values["beacon"][0] - 0.5 == pytest.approx(d.weight * step_full)
    assert [i.weight for i in guarded.retrain.drain()] == [d.weight]


def test_rate_limit_refuses_and_teaches_nothing() -> None:
    con = duckdb.connect()
    loop = AnalystLoop(screen=GuardedFeedbackScreen.with_config(FeedbackConfig(rate_per_hour=5)),
                       con=con)
    outs = [loop.record(Verdict("alert", f"a{k}", "alice", TP, "", "alert",
                                T + timedelta(seconds=k)), _ctx(k, 0.9)) for k in range(7)]
    assert [o.decision.accepted for o in outs] == [True] * 5 + [False] * 2
    assert outs[-1].decision.reason == "rate_limited" and outs[-1].queued == 0
    assert len(loop.retrain) == 5
    rows = con.execute("SELECT status, weight FROM verdicts ORDER BY seq").fetchall()
    assert rows[-2:] == [("rejected", 0.0)] * 2


def test_a_restart_keeps_the_cusums_and_the_pending_requests() -> None:
    con = duckdb.connect()
    first = AnalystLoop(con=con)
    _stream(first, 120, seed=0, bad="ana3", flip=1.0)  # stored verdicts cost ms each
    held = first.record(_v("bob", BTP, 700, scope="rule"), _ctx(700, 0.5)).decision.request_id
    done = first.record(_v("bob", FP, 701, scope="detector"), _ctx(701, 0.5)).decision
    first.approve(done.request_id or "", "carol", T)
    again = AnalystLoop(con=con)  # a new process over the same store
    assert isinstance(again.screen, GuardedFeedbackScreen) and isinstance(
        first.screen, GuardedFeedbackScreen)
    assert list(again.screen.guard.flagged()) == ["ana3"]
    assert (again.screen.guard.analyst_report().to_dicts()
            == first.screen.guard.analyst_report().to_dicts())
    assert list(again.pending()) == [held] and again.screen.pending() == [held]
    assert again.record(_v("ana3", TP, 800), _ctx(800, 0.9)).decision.held
    o = again.approve(held or "", "carol", T)
    assert o.decision.accepted and o.proposal is not None and o.proposal.rule == "rule"


def test_a_store_from_before_the_guard_still_opens() -> None:
    con = duckdb.connect()
    con.execute("""CREATE TABLE verdicts (verdict_id VARCHAR PRIMARY KEY, target_kind VARCHAR,
        target_id VARCHAR, analyst VARCHAR, label VARCHAR, reason VARCHAR, scope VARCHAR,
        time TIMESTAMPTZ, accepted BOOLEAN, screen_reason VARCHAR, detector VARCHAR,
        schema_version INTEGER)""")
    con.execute("INSERT INTO verdicts VALUES ('vrd-1', 'alert', 'a1', 'alice', 'true_positive',"
                " '', 'alert', ?, true, 'accepted (no screen configured)', 'beacon', 1)", [T])
    loop = AnalystLoop(con=con)
    assert isinstance(loop.screen, GuardedFeedbackScreen)
    assert loop.screen.guard.analyst_report()["verdicts"].to_list() == [1]
    assert loop.record(_v("bob", TP, 2), _ctx(2, 0.8)).decision.accepted
    assert [r["seq"] for r in loop.store.rows()] == [None, 1]  # type: ignore[union-attr]


@pytest.mark.parametrize(("label", "scope", "ctx", "want"), [
    (FP, "alert", _ctx(1, 0.7), ("alert", 1, 0.7, FP)),
    (BTP, "alert", _ctx(1, None), ("alert", 1, 0.5, FP)),  # benign teaches "not malicious"
    (TP, "alert", _ctx(1, 7.5), ("alert", 1, 0.5, TP)),  # not a probability: no evidence
    # a detector score is not calibrated evidence (a critical sigma rule scores 1.0)
    (FP, "alert", VerdictContext("beacon", score=1.0, alert_ids=("a1",)), ("alert", 1, 0.5, FP)),
    (TP, "alert", _ctx(1, float("nan")), ("alert", 1, 0.5, TP)),
    (FP, "entity", _ctx(1, 0.2, entities=("host:h",)), ("suppress", 1, 0.2, FP)),
    (FP, "entity", _ctx(1, 0.2), ("alert", 1, 0.2, FP)),  # no entities: nothing suppressed
    (TP, "entity", _ctx(1, 0.2, entities=("host:h",)), ("alert", 1, 0.2, TP)),
    (BTP, "rule", _ctx(1, 0.2), ("suppress", 1, 0.2, FP)),
    (TP, "detector", _ctx(1, 0.9), ("suppress", 1, 0.9, TP)),
    (TP, "alert", _ctx(1, 0.9, n=60), ("relabel", 60, 0.9, TP)),
])
def test_verdict_to_guard_mapping(label: VerdictLabel, scope: str, ctx: VerdictContext,
                                  want: tuple[str, int, float, VerdictLabel]) -> None:
    fv = feedback_verdict(_v("alice", label, 1, scope=scope), ctx)
    assert (fv.scope, fv.affected, fv.evidence, fv.label) == want
    assert fv.alert_id == "a1" and fv.detector == "beacon"


def test_incident_verdicts_relabel_and_many_alerts_need_two_people() -> None:
    loop = AnalystLoop()
    small = loop.record(_v("alice", TP, 1, kind="incident"), _ctx(1, 0.9, n=3))
    assert small.decision.accepted and small.queued == 3
    big = loop.record(_v("alice", TP, 2, kind="incident"), _ctx(2, 0.9, n=60))
    assert big.decision.held and big.queued == 0
    assert loop.approve(big.decision.request_id or "", "bob", T).queued == 60


def test_weights_and_decisions_are_validated() -> None:
    with pytest.raises(ConfigError):
        ScreenDecision(True, weight=1.5)
    with pytest.raises(ConfigError):
        ScreenDecision(True, held=True)
    with pytest.raises(ConfigError):
        DetectorWeights().update("d", "true_positive", weight=-0.1)
    w = DetectorWeights(step=0.5)
    for _ in range(3):
        w.update("d", "false_positive", weight=1 / 3)
    assert w.get("d") == pytest.approx(0.5)  # three thirds of a verdict = one verdict
