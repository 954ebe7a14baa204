"""The generated scikit-learn/LightGBM allowlist stays in sync with the installed libraries."""

from __future__ import annotations

from sklearn.utils import all_estimators

from mirrorguard.guard.artifacts.scan.policy import classify


def test_every_sklearn_estimator_is_allowlisted() -> None:
    missing = [f"{cls.__module__}.{cls.__name__}" for _name, cls in all_estimators()
               if not classify(cls.__module__, cls.__name__).allowed]
    assert missing == []
