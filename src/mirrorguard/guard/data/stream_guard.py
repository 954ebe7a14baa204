"""The streaming anomaly detector behind a drift budget (subclass, no edits to the detector).

:class:`~mirrorguard.detect.streaming.StreamingHistogram` keeps learning from every batch its
policy did not flag. A patient attacker can walk it: a few percent more bytes per batch never
crosses the threshold, and after enough batches the histogram calls the exfiltration volume
normal. :class:`GuardedStreamingHistogram` passes each learned batch's non-negative numeric
columns (volumes, counts, durations — keys are the column names) through a
:class:`~mirrorguard.guard.data.drift.DriftBudget` first, exactly as
:class:`~mirrorguard.guard.data.ueba_guard.GuardedUeba` does for per-entity baselines: values are
clipped to the budgeted level, and slow monotone drift raises a finding and freezes that
column's level until a person signs a new anchor.

Life cycle: ``fit`` on vetted data (its rows, in order, are cut into ``anchor_windows`` pseudo
windows to measure how much a window's median naturally varies), ``anchor(signer)`` to sign
that history and switch the budget on, then ``learn`` batch by batch (one batch = one budget
window). ``attach(signed_anchor, verifier)`` re-attaches a stored anchor (signature checked).

>>> import numpy as np, polars as pl
>>> from mirrorguard.guard.keys import Signer, generate_keypair
>>> rng = np.random.default_rng(0)
>>> hist = pl.DataFrame({"bytes": rng.lognormal(8, 0.3, 4000)})
>>> det = GuardedStreamingHistogram().fit(hist)
>>> _ = det.anchor(Signer(generate_keypair()[0]))
>>> for w in range(25):  # +8 % per batch
...     _ = det.learn(pl.DataFrame({"bytes": rng.lognormal(8, 0.3, 400) * 1.08 ** (w + 1)}))
>>> [f["key"] for f in det.drift_findings()][:1], det.held().tolist()
(['bytes'], ['bytes'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.common import benign_mask
from mirrorguard.detect.streaming import StreamingHistogram
from mirrorguard.guard.data.budgeted import Budgeted, budget_config
from mirrorguard.guard.data.drift import Anchor, BudgetConfig, SignedAnchor
from mirrorguard.guard.keys import Signer, Verifier

_SKIP = "\x00"  # key of values the budget must not judge (null, NaN, negative)
_MAX_ANCHOR_ROWS = 200_000


class GuardedStreamingHistogram(Budgeted, StreamingHistogram):
    """:class:`StreamingHistogram` whose learning respects a signed-anchor drift budget."""

    name: ClassVar[str] = "streaming_hbos_guarded"

    def __init__(
        self,
        n_bins: int = 64,
        alpha: float = 0.5,
        decay: float = 0.99,
        categorical: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        budget: BudgetConfig | dict[str, Any] | None = None,
        anchor_windows: int = 20,
    ) -> None:
        super().__init__(n_bins=n_bins, alpha=alpha, decay=decay, categorical=categorical,
                         exclude=exclude)
        self.budget = budget_config(budget)
        self.anchor_windows = anchor_windows

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        """Fit the histogram and keep the vetted volumes the anchor will be built from."""
        super().fit(X, y)
        benign = X.filter(pl.Series(benign_mask(X.height, y)))
        skip = set(self.exclude) | set(self.categorical or ())
        self.volume_columns_ = [
            c for c, dt in benign.schema.items()
            if dt.is_numeric() and c not in skip
            and (benign[c].min() or 0) >= 0  # type: ignore[operator]
        ]
        step = max(1, benign.height // _MAX_ANCHOR_ROWS)
        self.anchor_history_ = benign.select(self.volume_columns_).gather_every(step)
        return self

    def _long(self, X: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(keys, values) column after column; values the budget must not judge get a skip key."""
        cols = [c for c in self.volume_columns_ if c in X.columns]
        vals = [X[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in cols]
        values = np.concatenate(vals) if vals else np.zeros(0)
        keys = np.repeat(np.array(cols, dtype=object), X.height).astype(str)
        keys = np.where(np.isfinite(values) & (values >= 0), keys, _SKIP)
        return keys, values

    def anchor(self, signer: Signer, config: BudgetConfig | None = None) -> SignedAnchor:
        """Sign the robust statistics of the vetted history and start budgeting."""
        hist: pl.DataFrame | None = getattr(self, "anchor_history_", None)
        if hist is None or hist.is_empty() or not self.volume_columns_:
            raise ValueError("fit the detector on vetted data with numeric columns first")
        keys, values = self._long(hist)
        windows = np.tile(np.arange(hist.height) * self.anchor_windows // hist.height,
                          len(self.volume_columns_))
        ok = keys != _SKIP
        cfg = config or self.budget or BudgetConfig()
        signed = Anchor.from_values(keys[ok], windows[ok], values[ok], cfg.min_spread
                                    ).sign(signer)
        self.attach(signed, Verifier(signer.public_key), cfg)
        return signed

    def learn(self, X: pl.DataFrame) -> Self:
        """Learn one batch, its volumes clipped to the budget (unbudgeted before ``anchor``)."""
        budget = self._budget()
        if budget is None or X.height == 0:
            return super().learn(X)
        keys, values = self._long(X)
        admitted, _ = budget.admit(keys, values, window=self.updates_)
        self.updates_ += 1
        cols = [c for c in self.volume_columns_ if c in X.columns]
        parts = admitted.reshape(len(cols), X.height) if cols else admitted
        clipped = X.with_columns(pl.Series(c, parts[i]).cast(X.schema[c], strict=False)
                                 for i, c in enumerate(cols))
        return super().learn(clipped)

    def drift_findings(self) -> list[dict[str, Any]]:
        """Findings raised by the budget so far (one per column that drifted)."""
        return self.budget_findings()

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super().get_state()
        return {**meta, "volume_columns": list(getattr(self, "volume_columns_", []))}, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], meta: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Self:
        det = super().from_state(params, meta, arrays)
        det.volume_columns_ = [str(c) for c in meta.get("volume_columns", [])]
        return det
