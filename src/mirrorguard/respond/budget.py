"""Alert budgets per detector: at most N alerts per detector per period, the best-scored ones.

A noisy detector can bury an analyst. A budget keeps, per detector and period (a day by
default), the ``N`` highest-scored alerts and marks the rest ``over_budget``; they stay stored
and still correlate, but the triage queue does not show incidents made only of them.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> f = pl.DataFrame({"detector": ["a"] * 3 + ["b"], "score": [0.1, 0.9, 0.5, 0.2],
...     "@timestamp": [datetime(2024, 1, 1, tzinfo=UTC)] * 4})
>>> AlertBudget({"a": 2}).over_budget(f).to_list()
[True, False, False, False]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from mirrorguard.errors import ConfigError


@dataclass(frozen=True)
class AlertBudget:
    """``per_detector`` maps detector → alerts per ``period``; ``default`` for the others."""

    per_detector: Mapping[str, int] = field(default_factory=dict)
    default: int | None = None
    period: str = "1d"

    def __post_init__(self) -> None:
        if any(n < 0 for n in self.per_detector.values()) or (self.default or 0) < 0:
            raise ConfigError("alert budgets must be non-negative")

    def over_budget(self, alerts: pl.DataFrame) -> pl.Series:
        """True for alerts beyond their detector's budget in their period (ties: earlier wins)."""
        if alerts.height == 0:
            return pl.Series("over_budget", [], dtype=pl.Boolean)
        limit = pl.col("detector").replace_strict(
            dict(self.per_detector), default=self.default, return_dtype=pl.Int64)
        period = pl.col("@timestamp").dt.truncate(self.period)
        rank = (pl.struct(-pl.col("score"), pl.col("@timestamp"))
                .rank("ordinal").over("detector", period))
        return alerts.select(
            (limit.is_not_null() & (rank > limit)).alias("over_budget")).to_series()
