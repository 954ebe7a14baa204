"""The detector contract, after scikit-learn's estimator discipline.

* ``__init__`` stores parameters and nothing else; learned state ends in ``_``.
* ``fit(X)`` returns ``self``; ``score(X)`` returns raw scores (higher = more anomalous or more
  likely malicious), one per row, for a whole frame at once.
* Score, threshold and verdict are separate layers: thresholds live in :mod:`detect.policy`.
* ``explain(X, rows)`` explains only the rows asked for (alerts), never every event.
* Persistence without pickle: ``get_state()`` returns JSON-able metadata and named NumPy arrays;
  ``from_state`` rebuilds the detector. :mod:`mirrorguard.guard.artifacts` signs and stores them.
* Online detectors also implement ``learn(X)``; they must not learn from rows their own policy
  flagged (callers pass only the rows that were not flagged, see ``OnlineDetector``).
* Every ``fit`` is screened for training-data poisoning: ``__init_subclass__`` wraps each
  subclass's own ``fit`` so that it learns only from what the active training-screen policy
  allows (:mod:`mirrorguard.guard.data.fit_screen`); the result is kept as ``screen_report_``.
  A detector opts out only by setting ``fit_screen_exempt`` to the reason (a fit that learns
  nothing from ``X``, say).
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.schema.alerts import Explanation

JSONValue = Any  # str | int | float | bool | None | list | dict, checked at save time

_SCREENED = "__mirrorguard_screened__"


def _screened(fit: Callable[..., Any]) -> Callable[..., Any]:
    """``fit`` behind the training-data screen (imported late: the guard imports detectors)."""

    @functools.wraps(fit)
    def screened_fit(self: Detector, X: pl.DataFrame, y: np.ndarray | None = None) -> Any:
        if self.fit_screen_exempt:
            return fit(self, X) if y is None else fit(self, X, y)
        from mirrorguard.guard.data.fit_screen import run_screened_fit

        return run_screened_fit(self, fit, X, y)

    setattr(screened_fit, _SCREENED, True)
    return screened_fit


class Detector(ABC):
    """Base class for every scorer."""

    #: registry name, used in model manifests and alerts
    name: ClassVar[str]
    #: non-empty: why this detector's ``fit`` is not screened (keep such opt-outs rare)
    fit_screen_exempt: ClassVar[str] = ""
    #: what the training-data screen reported for the last ``fit`` (``None``: policy ``off``)
    screen_report_: dict[str, Any] | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Put the subclass's own ``fit`` (if it defines one) behind the training screen."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("fit")
        if (callable(own) and not getattr(own, "__isabstractmethod__", False)
                and not getattr(own, _SCREENED, False)):
            setattr(cls, "fit", _screened(own))  # noqa: B010 (mypy: cannot assign to a method)

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, JSONValue]:
        """Constructor parameters, as given."""
        return {name: getattr(self, name) for name in self._param_names()}

    @abstractmethod
    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        """Learn from ``X`` (and labels ``y`` for supervised detectors); return ``self``."""

    @abstractmethod
    def score(self, X: pl.DataFrame) -> np.ndarray:
        """Raw scores for every row of ``X`` (float64, higher = more suspicious)."""

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        """Explanations for the given row positions (the alerts)."""
        raise NotImplementedError(f"{type(self).__name__} does not explain its scores")

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        """Learned state as (JSON metadata, named arrays). Arrays must not be object dtype."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    @classmethod
    def from_state(
        cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
        arrays: dict[str, np.ndarray],
    ) -> Self:
        """Rebuild a fitted detector from :meth:`get_params` and :meth:`get_state` output."""
        raise NotImplementedError(f"{cls.__name__} cannot be loaded")

    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))


class OnlineDetector(Detector):
    """A detector that keeps learning from a stream of micro-batches."""

    @abstractmethod
    def learn(self, X: pl.DataFrame) -> Self:
        """Update with rows believed benign (the caller removes what policy flagged)."""

    def score_then_learn(self, X: pl.DataFrame, threshold: float) -> np.ndarray:
        """Score a batch, then learn only from the rows scoring below ``threshold``.

        This is the protect-the-detector rule: what the detector flags never teaches it.
        """
        scores = self.score(X)
        keep = scores < threshold
        if keep.any():
            self.learn(X.filter(pl.Series(keep)))
        return scores
