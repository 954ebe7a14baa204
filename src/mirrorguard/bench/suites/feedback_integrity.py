"""Suite ``feedback_integrity``: can one malicious analyst in a team of ten be caught?

Alerts and their evidence are real: a LightGBM model trained on a seeded half of UNSW-NB15
scores the other half; flows scoring at least ``ALERT_AT`` are alerts, their true label is the
dataset's label and their ``evidence`` is the model's probability. Each alert belongs to one of
four detectors by service (``dns``, ``http``, mail/file transfer, everything else).

Analysts are simulated. Honest analyst ``a`` errs on an alert with probability
``lapse_a + (0.5 - lapse_a) * exp(-|logit(evidence)| / tau_a)`` (mistakes concentrate on
ambiguous alerts; lapses of 0.2–1 % happen anywhere), with ``lapse_a`` and ``tau_a`` drawn per
analyst. The malicious analyst behaves the same, except that on one detector (the one with the
most true positives) 30 % of its verdicts that would not be "false positive" become "false
positive". Alerts are dealt at random; 15 % get a second reviewer. Verdicts stream through
:class:`FeedbackGuard` in time order.

Figures: ``malicious_flagged_after`` (the malicious analyst's verdicts, all detectors, until it is
flagged) and ``honest_flagged`` over 2,000 team verdicts for the suite seed; the same over five
seeds; ``honest_flagged_long`` over 20,000 verdicts and a team without a malicious analyst; the
rate-limit and two-person-rule checks. ``end_to_end``: the same 2,000-verdict team through
:class:`~mirrorguard.learn.AnalystLoop` (the product path, guard as its default screen) and
through an unguarded loop — how much verdict weight the malicious analyst's flipped verdicts
taught.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np

from mirrorguard.bench import datasets as ds
from mirrorguard.bench.harness import BenchContext, SuiteResult
from mirrorguard.guard.data.feedback import Action, FeedbackGuard, FeedbackVerdict
from mirrorguard.guard.data.prep import TabularEncoder
from mirrorguard.learn import AcceptAll, AnalystLoop, Verdict, VerdictContext
from mirrorguard.schema.alerts import VerdictLabel

ALERT_AT = 0.3
T0 = datetime(2024, 5, 6, 8, tzinfo=UTC)
DETECTORS = {"dns": "flow.dns", "http": "flow.http", "smtp": "flow.transfer",
             "ftp": "flow.transfer", "ftp-data": "flow.transfer", "pop3": "flow.transfer"}


def real_alerts(ctx: BenchContext) -> dict[str, np.ndarray]:
    """Alerts (evidence, truth, detector) from a LightGBM model on UNSW-NB15."""
    tab = ds.load_unsw_nb15(ctx.data("unsw_nb15"))
    rng = np.random.default_rng(ctx.seed)
    perm = rng.permutation(len(tab.y))
    half = len(perm) // 2
    tr, te = np.sort(perm[:half]), np.sort(perm[half:])
    enc = TabularEncoder().fit(tab.X[tr])
    params: dict[str, object] = {"objective": "binary", "num_threads": 1, "verbosity": -1,
                                 "seed": ctx.seed, "deterministic": True}
    booster = lgb.train(params, lgb.Dataset(enc.tree(tab.X[tr]), label=tab.y[tr],
                                            categorical_feature=enc.categorical_index), 100)
    p = np.asarray(booster.predict(enc.tree(tab.X[te])), dtype=np.float64)
    alert = p >= ALERT_AT
    service = tab.X["service"].to_numpy()[te][alert]
    detector = np.array([DETECTORS.get(str(s), "flow.generic") for s in service])
    return {"evidence": p[alert], "truth": tab.y[te][alert].astype(bool), "detector": detector}


def _team(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(0.002, 0.01, n), rng.uniform(0.8, 1.5, n)


def simulate(alerts: dict[str, np.ndarray], *, seed: int, n_verdicts: int, n_analysts: int = 10,
             malicious: int | None = 0, target: str = "flow.generic", flip: float = 0.3,
             overlap: float = 0.15) -> dict[str, Any]:
    """Stream simulated verdicts through a fresh guard; who got flagged, and when."""
    rng = np.random.default_rng(seed)
    lapse, tau = _team(rng, n_analysts)
    guard = FeedbackGuard()
    names = [f"analyst-{i:02d}" for i in range(n_analysts)]
    count = 0
    step = 0
    while count < n_verdicts:
        i = int(rng.integers(len(alerts["truth"])))
        ev, truth, det = (float(alerts["evidence"][i]), bool(alerts["truth"][i]),
                          str(alerts["detector"][i]))
        reviewers = rng.choice(n_analysts, 2 if rng.random() < overlap else 1, replace=False)
        for a in reviewers.tolist():
            logit = abs(np.log(max(ev, 1e-9) / max(1 - ev, 1e-9)))
            p_err = lapse[a] + (0.5 - lapse[a]) * np.exp(-logit / tau[a])
            says_tp = truth != (rng.random() < p_err)
            if a == malicious and det == target and says_tp and rng.random() < flip:
                says_tp = False
            label = VerdictLabel.TRUE_POSITIVE if says_tp else VerdictLabel.FALSE_POSITIVE
            step += 1
            guard.review(FeedbackVerdict(names[a], T0 + timedelta(minutes=3 * step), f"al-{i}",
                                         det, label, ev))
            count += 1
    flagged = guard.flagged()
    mal = names[malicious] if malicious is not None else None
    return {
        "malicious_flagged_after": (int(flagged[mal]["after"])  # type: ignore[call-overload]
                                    if mal in flagged else None),
        "malicious_flagged_on": (str(flagged[mal]["detector"]) if mal in flagged else None),
        "honest_flagged": sum(1 for a in flagged if a != mal),
        "verdicts": count,
        "report": guard.analyst_report().to_dicts(),
    }


def through_loop(alerts: dict[str, np.ndarray], *, seed: int, n_verdicts: int,
                 target: str, guarded: bool, n_analysts: int = 10, malicious: int = 0,
                 flip: float = 0.3, overlap: float = 0.15) -> dict[str, Any]:
    """The same team, end to end: verdicts go through :class:`AnalystLoop` (whose default
    screen is the guard) instead of the guard alone: how much the malicious analyst's flipped
    verdicts taught (verdicts x weight: weights, thresholds and retraining labels all scale by
    it), with the guard and with :class:`AcceptAll`."""
    rng = np.random.default_rng(seed)
    lapse, tau = _team(rng, n_analysts)
    loop = AnalystLoop() if guarded else AnalystLoop(screen=AcceptAll())
    names = [f"analyst-{i:02d}" for i in range(n_analysts)]
    count = step = 0
    taught = 0.0  # verdict weight the malicious analyst's flipped verdicts taught
    flips = 0
    while count < n_verdicts:
        i = int(rng.integers(len(alerts["truth"])))
        ev, truth, det = (float(alerts["evidence"][i]), bool(alerts["truth"][i]),
                          str(alerts["detector"][i]))
        for a in rng.choice(n_analysts, 2 if rng.random() < overlap else 1,
                            replace=False).tolist():
            logit = abs(np.log(max(ev, 1e-9) / max(1 - ev, 1e-9)))
            says_tp = truth != (rng.random() < lapse[a] + (0.5 - lapse[a])
                                * np.exp(-logit / tau[a]))
            flipped = a == malicious and det == target and says_tp and rng.random() < flip
            label = (VerdictLabel.FALSE_POSITIVE if flipped or not says_tp
                     else VerdictLabel.TRUE_POSITIVE)
            step += 1
            out = loop.record(
                Verdict("alert", f"al-{i}", names[a], label, "", "alert",
                        T0 + timedelta(minutes=3 * step)),
                VerdictContext(det, alert_ids=(f"al-{i}",), evidence=ev))
            flips += int(flipped)
            if flipped and out.decision.accepted:
                taught += out.decision.weight
            count += 1
    return {"flipped_verdicts": flips, "flipped_verdict_weight_taught": round(taught, 2)}


def _controls() -> dict[str, Any]:
    """Rate limit and two-person rule on the real guard."""
    guard = FeedbackGuard()
    burst = [guard.review(FeedbackVerdict("analyst-01", T0 + timedelta(seconds=10 * k), f"b{k}",
                                          "flow.dns", VerdictLabel.TRUE_POSITIVE, 0.9))
             for k in range(200)]
    hold = guard.review(FeedbackVerdict("analyst-02", T0, "", "flow.dns",
                                        VerdictLabel.FALSE_POSITIVE, 0.5, scope="relabel",
                                        affected=500))
    rid = hold.request_id or ""
    return {
        "burst_verdicts": len(burst),
        "rate_limited": sum(d.action is Action.REJECT for d in burst),
        "bulk_relabel_held": hold.action is Action.HOLD,
        "self_approval_rejected": guard.approve(rid, "analyst-02", T0).action is Action.REJECT,
        "peer_approval_accepted": guard.approve(rid, "analyst-03", T0).action is Action.ACCEPT,
    }


def run(ctx: BenchContext) -> SuiteResult:
    alerts = real_alerts(ctx)
    dets, tps = np.unique(alerts["detector"][alerts["truth"]], return_counts=True)
    target = str(dets[tps.argmax()])
    n = 600 if ctx.quick else 2000
    main = simulate(alerts, seed=ctx.seed, n_verdicts=n, target=target)
    seeds = [simulate(alerts, seed=ctx.seed + s, n_verdicts=n, target=target)
             for s in range(1, 5)]
    long_n = 4000 if ctx.quick else 20_000
    control = simulate(alerts, seed=ctx.seed + 100, n_verdicts=long_n, malicious=None)
    results = {
        "malicious_flagged_after": main["malicious_flagged_after"],
        "malicious_flagged_on": main["malicious_flagged_on"],
        "honest_flagged": main["honest_flagged"],
        "verdicts": main["verdicts"], "target_detector": target,
        "seeds": {
            "malicious_flagged_after": [main["malicious_flagged_after"]]
            + [s["malicious_flagged_after"] for s in seeds],
            "honest_flagged": [main["honest_flagged"]] + [s["honest_flagged"] for s in seeds]},
        "honest_flagged_long": control["honest_flagged"], "long_verdicts": control["verdicts"],
        "controls": _controls(),
        "end_to_end": {name: through_loop(alerts, seed=ctx.seed, n_verdicts=n, target=target,
                                          guarded=name == "guarded")
                       for name in ("guarded", "unguarded")},
        "analysts": main["report"],
        "alerts": {"n": len(alerts["truth"]), "true_positive_share":
                   round(float(alerts["truth"].mean()), 4),
                   "per_detector": {str(d): int((alerts["detector"] == d).sum())
                                    for d in np.unique(alerts["detector"])}},
    }
    datasets = [{"name": "unsw_nb15", "files": [str(ctx.data("unsw_nb15"))], "seed": ctx.seed,
                 "split": "seeded 50/50; alerts = test half scored >= 0.3 by LightGBM"}]
    return SuiteResult(results=results, datasets=datasets,
                       notes=["targets: malicious_flagged_after <= 50; honest_flagged = 0"])
