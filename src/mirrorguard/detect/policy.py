"""The policy layer: scores -> verdicts through a fitted, printable threshold.

A threshold is fitted on *benign* scores for a target false-positive rate, or for an alert budget
(alerts per day given the expected events per day, i.e. ``fpr = alerts / events``). Far-tail
quantiles of a few thousand benign scores are noisy (the 99.99th percentile of 10,000 scores is
decided by one value), so the top of the benign distribution is modelled with a generalised
Pareto distribution — peaks over threshold (A. A. Balkema, L. de Haan 1974; J. Pickands 1975;
S. Coles, "An Introduction to Statistical Modeling of Extreme Values", 2001, ch. 4): exceedances
over a high benign quantile ``u`` follow ``GPD(xi, sigma)``, so
``P(S > t) = p_u * (1 - F_GPD(t - u))`` and the threshold for ``fpr`` is
``u + F_GPD^-1(1 - fpr / p_u)``. When ``fpr >= p_u`` the empirical quantile is used instead.

>>> import numpy as np
>>> benign = np.random.default_rng(0).exponential(size=20_000)
>>> pol = ThresholdPolicy(target_fpr=1e-4).fit(benign)
>>> abs(pol.threshold_ - 9.21) < 0.5  # exact exponential answer: -log(1e-4) = 9.21
True
>>> pol.verdict(np.array([1.0, 12.0])).tolist()
[False, True]
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from mirrorguard.errors import ConfigError, MirrorguardError


class ThresholdPolicy:
    """Benign-fitted threshold for a target FPR or alerts-per-day budget (GPD tail fit).

    Parameters
    ----------
    target_fpr:
        Wanted share of benign events flagged. Exclusive with ``alerts_per_day``.
    alerts_per_day, events_per_day:
        Alert budget; the target FPR is ``alerts_per_day / events_per_day``.
    tail_fraction:
        Share of the top benign scores used for the Pareto fit (``u`` is their lower edge).
    """

    def __init__(
        self,
        target_fpr: float | None = None,
        alerts_per_day: float | None = None,
        events_per_day: float | None = None,
        tail_fraction: float = 0.05,
    ) -> None:
        self.target_fpr = target_fpr
        self.alerts_per_day = alerts_per_day
        self.events_per_day = events_per_day
        self.tail_fraction = tail_fraction

    def _fpr(self) -> float:
        if (self.target_fpr is None) == (self.alerts_per_day is None):
            raise ConfigError("give exactly one of target_fpr or alerts_per_day")
        if self.target_fpr is not None:
            fpr = float(self.target_fpr)
        else:
            if not self.events_per_day or self.events_per_day <= 0:
                raise ConfigError("alerts_per_day needs a positive events_per_day")
            fpr = float(self.alerts_per_day) / float(self.events_per_day)  # type: ignore[arg-type]
        if not 0.0 < fpr < 1.0:
            raise ConfigError(f"target false-positive rate must be in (0, 1), got {fpr}")
        return fpr

    def fit(self, benign_scores: np.ndarray) -> Self:
        """Fit the threshold from benign scores (scores of rows believed benign)."""
        from scipy.stats import genpareto

        s = np.asarray(benign_scores, dtype=np.float64)
        s = s[np.isfinite(s)]
        if s.size < 50:
            raise MirrorguardError(f"need at least 50 benign scores to fit a policy, got {s.size}")
        fpr = self._fpr()
        self.fpr_ = fpr
        self.n_benign_ = int(s.size)
        self.u_ = float(np.quantile(s, 1.0 - self.tail_fraction))
        exceed = s[s > self.u_] - self.u_
        self.p_u_ = float(exceed.size / s.size)
        self.method_ = "empirical quantile"
        self.xi_, self.sigma_ = 0.0, 0.0
        if fpr >= self.p_u_ or exceed.size < 20 or np.ptp(exceed) <= 0:
            self.threshold_ = float(np.quantile(s, 1.0 - fpr))
            return self
        xi, _, sigma = genpareto.fit(exceed, floc=0.0)
        self.xi_, self.sigma_ = float(xi), float(sigma)
        self.threshold_ = self.u_ + float(genpareto.ppf(1.0 - fpr / self.p_u_, xi, 0.0, sigma))
        self.method_ = "generalised Pareto tail fit"
        return self

    def _check(self) -> None:
        if not hasattr(self, "threshold_"):
            raise MirrorguardError("policy is not fitted; call fit() on benign scores first")

    def tail_probability(self, scores: np.ndarray) -> np.ndarray:
        """Modelled benign exceedance probability ``P(S > s)`` (for ``s`` above ``u``)."""
        from scipy.stats import genpareto

        self._check()
        s = np.asarray(scores, dtype=np.float64)
        if self.sigma_ <= 0:
            return np.where(s >= self.threshold_, self.fpr_, 1.0)
        sf = genpareto.sf(np.maximum(s - self.u_, 0.0), self.xi_, 0.0, self.sigma_)
        return np.asarray(np.where(s > self.u_, self.p_u_ * sf, 1.0), dtype=np.float64)

    def verdict(self, scores: np.ndarray) -> np.ndarray:
        """Boolean alert decision per score (``score > threshold``)."""
        self._check()
        return np.asarray(np.asarray(scores) > self.threshold_, dtype=bool)

    def describe(self) -> str:
        """A printable summary of the fitted threshold and what it means."""
        self._check()
        lines = [
            f"threshold {self.threshold_:.6g} ({self.method_})",
            f"  target benign false-positive rate {self.fpr_:.3g}",
        ]
        if self.alerts_per_day is not None:
            lines.append(
                f"  budget {self.alerts_per_day:g} alerts/day at {self.events_per_day:g} events/day"
            )
        lines.append(
            f"  fitted on {self.n_benign_} benign scores; tail above u={self.u_:.6g} "
            f"(p_u={self.p_u_:.3g}), xi={self.xi_:.3g}, sigma={self.sigma_:.3g}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        if not hasattr(self, "threshold_"):
            return f"{type(self).__name__}(unfitted)"
        return self.describe()

    def to_dict(self) -> dict[str, Any]:
        """Parameters and fitted values, JSON-ready."""
        self._check()
        return {
            "target_fpr": self.target_fpr, "alerts_per_day": self.alerts_per_day,
            "events_per_day": self.events_per_day, "tail_fraction": self.tail_fraction,
            "threshold": self.threshold_, "method": self.method_, "fpr": self.fpr_,
            "u": self.u_, "p_u": self.p_u_, "xi": self.xi_, "sigma": self.sigma_,
            "n_benign": self.n_benign_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ThresholdPolicy:
        """Rebuild from :meth:`to_dict`."""
        self = cls(d["target_fpr"], d["alerts_per_day"], d["events_per_day"], d["tail_fraction"])
        self.threshold_, self.method_ = float(d["threshold"]), str(d["method"])
        self.fpr_, self.n_benign_ = float(d["fpr"]), int(d["n_benign"])
        self.u_, self.p_u_ = float(d["u"]), float(d["p_u"])
        self.xi_, self.sigma_ = float(d["xi"]), float(d["sigma"])
        return self
