"""Suite ``feedback``: the analyst loop and active learning on UNSW-NB15.

Setting (all seeded; ``datasets`` in the record names the file, split and seeds):

* UNSW-NB15 ``UNSW_NB15_training-set.csv.gz`` (82,332 labelled flows; Moustafa & Slay,
  MilCIS 2015). Attacks are subsampled so they make up ``prevalence`` (3 %) of the flows —
  alerts are rare in a SOC, and at the file's 55 % any model has near-perfect precision at the
  top. Stratified split: 30 % test, 70 % pool.
* **Detector**: LightGBM trained on a labelled seed of ``seed_labels`` random pool rows
  (about 9 attacks at 3 %). **Alerts** are the top-``budget`` test rows by score; precision at
  that fixed budget is the figure of merit.
* **Simulated analyst**: works the alert queue (the top ``queue`` pool rows by current score),
  labels ``step`` alerts per round with 5 % label noise, each verdict going through
  :class:`~mirrorguard.learn.AnalystLoop` (screen → store → weights → retrain queue); the
  retrain drains the queue and refits on seed + verdicts (noisy labels as given).
* **Choice of alerts**: active learning (:func:`~mirrorguard.learn.active.select`,
  cluster-margin) versus uniform random choice from the same queue.
* ``precision_before`` is at 0 verdicts, ``precision_after`` after 200 active verdicts;
  ``verdicts_active`` / ``verdicts_random``: the first verdict count at which each strategy's
  mean precision curve (over seeds) reaches ``precision_after − tolerance`` (1 point); random
  runs up to ``max_random`` verdicts and reports ``null`` if it never gets there.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from mirrorguard.bench.datasets import load_unsw_nb15
from mirrorguard.bench.harness import BenchContext, SuiteResult
from mirrorguard.learn import AcceptAll, AnalystLoop, Verdict, VerdictContext
from mirrorguard.learn.active import Strategy, select
from mirrorguard.schema.alerts import VerdictLabel

DETECTOR = "supervised.lightgbm"
PARAMS: dict[str, Any] = {"objective": "binary", "n_estimators": 80, "learning_rate": 0.15,
                          "num_leaves": 15, "min_child_samples": 3, "verbose": -1, "n_jobs": 1}
CFG: dict[str, Any] = {"prevalence": 0.03, "test_share": 0.3, "seed_labels": 300,
                       "budget": 200, "queue": 3000, "step": 20, "verdicts": 200,
                       "max_random": 1000, "noise": 0.05, "tolerance": 0.01}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _features(X: pl.DataFrame) -> np.ndarray:
    cats = [c for c, t in X.schema.items() if t == pl.String]
    enc = X.with_columns([pl.col(c).cast(pl.Categorical).to_physical() for c in cats])
    out: np.ndarray = enc.to_numpy().astype(np.float64)
    return out


def _split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    neg, pos = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    n_pos = int(len(neg) * CFG["prevalence"] / (1 - CFG["prevalence"]))
    keep = np.concatenate([neg, rng.choice(pos, n_pos, replace=False)])
    test, pool = [], []
    for cls in (0, 1):
        idx = rng.permutation(keep[y[keep] == cls])
        cut = int(CFG["test_share"] * len(idx))
        test.append(idx[:cut])
        pool.append(idx[cut:])
    return np.concatenate(test), np.concatenate(pool)


class _Run:
    """One seed, one strategy: the model, the analyst loop, the precision curve."""

    def __init__(self, X: np.ndarray, y: np.ndarray, seed: int) -> None:
        self.X, self.y, self.seed = X, y, seed
        self.test, pool = _split(y, seed)
        rng = np.random.default_rng(seed)
        seed_idx = rng.choice(pool, CFG["seed_labels"], replace=False)
        self.idx: list[int] = seed_idx.tolist()
        self.lab: list[int] = y[seed_idx].astype(int).tolist()
        self.unlabelled = np.setdiff1d(pool, seed_idx)
        # this suite measures what verdicts teach; feedback integrity has its own suite
        self.loop = AnalystLoop(screen=AcceptAll())
        self.rng = np.random.default_rng(seed + 1000)
        self._fit()

    def _fit(self) -> None:
        self.model = lgb.LGBMClassifier(**PARAMS, random_state=self.seed).fit(
            self.X[self.idx], np.asarray(self.lab))

    def precision(self) -> float:
        s = np.asarray(self.model.predict_proba(self.X[self.test]))[:, 1]
        top = np.argsort(-s, kind="stable")[: CFG["budget"]]
        return float(self.y[self.test][top].mean())

    def round(self, strategy: Strategy, n: int) -> None:
        s = np.asarray(self.model.predict_proba(self.X[self.unlabelled]))[:, 1]
        queue = np.argsort(-s, kind="stable")[: CFG["queue"]]
        pick = select(s[queue], self.X[self.unlabelled[queue]], n, strategy, self.rng)
        chosen = self.unlabelled[queue[pick]]
        for row, score in zip(chosen.tolist(), s[queue[pick]].tolist(), strict=True):
            self._verdict(row, score)
        self.unlabelled = np.setdiff1d(self.unlabelled, chosen)
        for item in self.loop.retrain.drain(DETECTOR):
            self.idx.append(int(item.alert_id))
            self.lab.append(item.label)
        self._fit()

    def _verdict(self, row: int, score: float) -> None:
        truth = int(self.y[row])
        said = 1 - truth if self.rng.random() < CFG["noise"] else truth
        label = VerdictLabel.TRUE_POSITIVE if said else VerdictLabel.FALSE_POSITIVE
        v = Verdict("alert", str(row), "sim-analyst", label, "simulated", "alert",
                    T0 + timedelta(seconds=len(self.idx)))
        self.loop.record(v, VerdictContext(DETECTOR, score=score, alert_ids=(str(row),)))


def _curve(X: np.ndarray, y: np.ndarray, seed: int, strategy: Strategy,
           total: int) -> list[float]:
    run = _Run(X, y, seed)
    curve = [run.precision()]
    while len(curve) - 1 < total // CFG["step"]:
        run.round(strategy, CFG["step"])
        curve.append(run.precision())
    return curve


def _first_reaching(curve: np.ndarray, target: float) -> int | None:
    hit = np.flatnonzero(curve >= target)
    return int(hit[0]) * CFG["step"] if hit.size else None


def run(ctx: BenchContext) -> SuiteResult:
    folder = ctx.data("unsw_nb15")
    data = load_unsw_nb15(folder)
    X, y = _features(data.X), data.y.astype(np.int8)
    seeds = [ctx.seed + i for i in range(2 if ctx.quick else 3)]
    max_random = CFG["verdicts"] * 2 if ctx.quick else CFG["max_random"]
    started = time.perf_counter()
    curves: dict[str, list[list[float]]] = {"active": [], "random": []}
    for s in seeds:
        ctx.progress(f"feedback: seed {s} active")
        curves["active"].append(_curve(X, y, s, "cluster_margin", CFG["verdicts"]))
        ctx.progress(f"feedback: seed {s} random")
        curves["random"].append(_curve(X, y, s, "random", max_random))
    active = np.mean(curves["active"], axis=0)
    random_ = np.mean(curves["random"], axis=0)
    after = float(active[-1])
    target = after - CFG["tolerance"]
    n_after = CFG["verdicts"] // CFG["step"]
    results = {
        "precision_before": round(float(active[0]), 4),
        "precision_after": round(after, 4),
        "precision_after_random": round(float(random_[n_after]), 4),
        "improvement_points": round(100 * (after - float(active[0])), 2),
        "target_precision": round(target, 4),
        "verdicts_active": _first_reaching(active, target),
        "verdicts_random": _first_reaching(random_, target),
        "max_random_verdicts": max_random,
        "curve_step": CFG["step"],
        "curve_active": [round(float(v), 4) for v in active],
        "curve_random": [round(float(v), 4) for v in random_],
        "per_seed": {str(s): {"active_after": curves["active"][i][-1],
                              "random_at_200": curves["random"][i][n_after]}
                     for i, s in enumerate(seeds)},
        "seconds": round(time.perf_counter() - started, 2),
    }
    notes = [f"attacks subsampled to {CFG['prevalence']:.0%} of flows; precision at a budget "
             f"of {CFG['budget']} test alerts; {CFG['noise']:.0%} label noise",
             "verdicts_random is null when random choice never reaches the target within "
             "max_random_verdicts"]
    return SuiteResult(
        results=results, baselines={"random_choice": results["curve_random"]},
        datasets=[{"name": "unsw_nb15", "files": data.files, "seeds": seeds,
                   "split": f"stratified {CFG['test_share']:.0%} test / pool, seeded",
                   "config": CFG, "model": PARAMS}],
        notes=notes)
