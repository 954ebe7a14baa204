"""Hybrid detection: a supervised classifier plus a benign-trained novelty ensemble.

A classifier only recognises the attack types it was trained on; the novelty ensemble
(:class:`~.ensemble.FlowAnomalyEnsemble`, fitted on the benign rows only) flags whatever is far
from benign, including attack types absent from training. Each part keeps its own, training-data
threshold and the two are combined on one probability-like scale:

* classifier: calibrated ``P(malicious)`` (:class:`~.supervised.GradientBoostedDetector`),
  alerting at 0.5;
* novelty: ``sigmoid((s - t) / w)``, where ``t`` is the :class:`~.policy.ThresholdPolicy`
  threshold for ``novelty_fpr`` on the ensemble's held-out benign calibration scores and ``w`` is
  that threshold's distance from the benign median divided by 4; it crosses 0.5 exactly at ``t``;
* distance gate: a novel row counts only when it is also outside the *whole* training set,
  benign and attack alike (:class:`~.neighbours.NearestTrainingDistance`: distance to the nearest
  training row beyond the ``1 - novelty_fpr`` quantile of held-out training rows' distances).
  A row that is rare for benign traffic but close to some training row was seen, in kind, by the
  classifier, whose verdict then stands; this removes most of the benign false positives the
  novelty part used to add (rare-but-known benign rows) while keeping alerts on attack types
  absent from training. The gated novelty part is ``min(p_novelty, p_distance)`` (same sigmoid
  form as above); it is computed only for rows where it can change the hybrid score
  (``p_novelty >= 0.5`` and above the classifier's probability);
* hybrid score = ``max`` of the classifier part and the gated novelty part, so the verdict at
  0.5 is "the classifier says malicious OR the row is more novel than a ``novelty_fpr`` share of
  benign training rows AND farther from every training row than a ``novelty_fpr`` share of
  held-out training rows". Every threshold comes from training data only, with one
  ``novelty_fpr`` (default 0.02, chosen once, the same for every dataset).

>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(0)
>>> X = pl.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
>>> y = (X["a"].to_numpy() > 1.5).astype(int)
>>> det = HybridDetector(n_estimators=20, members=("hbos", "ecod"), seed=0).fit(X, y)
>>> s = det.score(pl.DataFrame({"a": [0.0, 0.0], "b": [0.0, 40.0]}))  # b=40: never seen
>>> bool(s[0] < 0.5 < s[1])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector, JSONValue
from mirrorguard.detect.common import check_fitted, strip_prefix, with_prefix
from mirrorguard.detect.ensemble import FlowAnomalyEnsemble
from mirrorguard.detect.neighbours import NearestTrainingDistance
from mirrorguard.detect.policy import ThresholdPolicy
from mirrorguard.detect.supervised import GradientBoostedDetector, _labels
from mirrorguard.schema.alerts import Explanation


class HybridDetector(Detector):
    """``max(P_classifier, gated novelty probability)``; alert at 0.5 (see module docstring).

    ``reference_rows`` caps the training rows kept for the distance gate (a seeded sample;
    they are part of the saved state).
    """

    name = "hybrid"

    def __init__(
        self,
        novelty_fpr: float = 0.02,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        members: Sequence[str] = ("hbos", "ecod", "centroid"),
        reference_rows: int = 50_000,
        num_threads: int = 1,
        categorical: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        self.novelty_fpr = novelty_fpr
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.members = members
        self.reference_rows = reference_rows
        self.num_threads = num_threads
        self.categorical = categorical
        self.exclude = exclude
        self.seed = seed

    def _classifier(self) -> GradientBoostedDetector:
        return GradientBoostedDetector(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, num_threads=self.num_threads,
            categorical=self.categorical, exclude=self.exclude, seed=self.seed,
        )

    def _novelty(self) -> FlowAnomalyEnsemble:
        return FlowAnomalyEnsemble(
            members=self.members, categorical=self.categorical, exclude=self.exclude,
            seed=self.seed,
        )

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        labels = _labels(y, X.height)
        self.classifier_ = self._classifier().fit(X, labels)
        self.novelty_ = self._novelty().fit(X, labels)
        cal = self.novelty_.calibration_scores_
        self.policy_ = ThresholdPolicy(target_fpr=self.novelty_fpr).fit(cal)
        t = self.policy_.threshold_
        self.width_ = max((t - float(np.median(cal))) / 4.0, 1e-6)
        self.neighbours_ = NearestTrainingDistance(
            fpr=self.novelty_fpr, max_reference=self.reference_rows, seed=self.seed,
        ).fit(self.classifier_.transformer_.transform(X))
        return self

    def parts(self, X: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(classifier probability, distance-gated novelty probability) per row."""
        check_fitted(self, "policy_")
        p_cls = self.classifier_.score(X)
        z = (self.novelty_.score(X) - self.policy_.threshold_) / self.width_
        p_nov = np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0))), dtype=np.float64)
        rows = np.flatnonzero((p_nov >= 0.5) & (p_nov > p_cls))
        if rows.size:
            sub = X[pl.Series("i", rows, dtype=pl.Int64)]
            p_far = self.neighbours_.probability(self.classifier_.transformer_.transform(sub))
            p_nov[rows] = np.minimum(p_nov[rows], p_far)
        return p_cls, p_nov

    def score(self, X: pl.DataFrame) -> np.ndarray:
        p_cls, p_nov = self.parts(X)
        return np.asarray(np.maximum(p_cls, p_nov), dtype=np.float64)

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        """Each alert is explained by the part that raised it (classifier or novelty)."""
        check_fitted(self, "policy_")
        idx = list(rows)
        sub = X[pl.Series("i", idx, dtype=pl.Int64)]
        p_cls, p_nov = self.parts(sub)
        by_cls = [i for i, k in enumerate(idx) if p_cls[i] >= p_nov[i]]
        by_nov = [i for i, k in enumerate(idx) if p_cls[i] < p_nov[i]]
        out: list[Explanation | None] = [None] * len(idx)
        for part, chosen in ((self.classifier_, by_cls), (self.novelty_, by_nov)):
            for i, e in zip(chosen, part.explain(sub, chosen), strict=True):
                out[i] = e
        return [e for e in out if e is not None]

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        check_fitted(self, "policy_")
        c_meta, c_arr = self.classifier_.get_state()
        n_meta, n_arr = self.novelty_.get_state()
        meta = {
            "classifier": {"params": self.classifier_.get_params(), "state": c_meta},
            "novelty": {"params": self.novelty_.get_params(), "state": n_meta},
            "policy": self.policy_.to_dict(), "width": self.width_,
            "neighbours": self.neighbours_.state()[0],
        }
        return meta, {**with_prefix("cls", c_arr), **with_prefix("nov", n_arr),
                      **with_prefix("nn", self.neighbours_.state()[1])}

    @classmethod
    def from_state(
        cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
        arrays: dict[str, np.ndarray],
    ) -> Self:
        self = cls(**params)
        c, n = meta["classifier"], meta["novelty"]
        self.classifier_ = GradientBoostedDetector.from_state(
            c["params"], c["state"], strip_prefix("cls", arrays)
        )
        self.novelty_ = FlowAnomalyEnsemble.from_state(
            n["params"], n["state"], strip_prefix("nov", arrays)
        )
        self.policy_ = ThresholdPolicy.from_dict(meta["policy"])
        self.width_ = float(meta["width"])
        self.neighbours_ = NearestTrainingDistance.from_state(
            meta["neighbours"], strip_prefix("nn", arrays)
        )
        return self
