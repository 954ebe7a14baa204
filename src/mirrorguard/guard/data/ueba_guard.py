"""UEBA baselines behind a drift budget (subclass of :class:`UebaDetector`, no edits to it).

Every baseline change in UEBA goes through :meth:`UebaDetector.update_baselines`; here that one
method first passes the window's per-entity dimension values through a :class:`DriftBudget`
(keys ``entity|dimension``), so the histograms only ever learn clipped values, and slow monotone
drift toward larger volumes raises a finding instead of being absorbed.

Life cycle: ``fit`` the detector on vetted history, then ``anchor(signer)`` signs that history's
robust statistics and switches the budget on; later ``learn`` calls are budgeted. A stored
anchor is re-attached with ``attach(signed_anchor, verifier)`` (the signature is checked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import polars as pl

from mirrorguard.detect.ueba import UebaDetector
from mirrorguard.features.entity import DIMENSIONS, RARITY_FIELDS
from mirrorguard.guard.data.budgeted import Budgeted, budget_config
from mirrorguard.guard.data.drift import Anchor, BudgetConfig, SignedAnchor
from mirrorguard.guard.keys import Signer, Verifier

_KEY_SEP = "|"


class GuardedUeba(Budgeted, UebaDetector):
    """:class:`UebaDetector` whose updates respect a signed-anchor drift budget."""

    name: ClassVar[str] = "ueba_guarded"

    def __init__(
        self,
        entity: str = "host.name",
        window: str = "1h",
        dimensions: Sequence[str] = tuple(DIMENSIONS),
        rarity: Sequence[str] = tuple(RARITY_FIELDS),
        peers: Mapping[str, str] | None = None,
        peer_prefix: int | None = None,
        min_history: int = 24,
        alert_percentile: float = 99.0,
        min_ratio: float = 3.0,
        hour_share: float = 0.01,
        min_logons: int = 20,
        n_bins: int = 64,
        decay: float = 1.0,
        budget: BudgetConfig | dict[str, Any] | None = None,
    ) -> None:
        super().__init__(entity=entity, window=window, dimensions=dimensions, rarity=rarity,
                         peers=peers, peer_prefix=peer_prefix, min_history=min_history,
                         alert_percentile=alert_percentile, min_ratio=min_ratio,
                         hour_share=hour_share, min_logons=min_logons, n_bins=n_bins,
                         decay=decay)
        self.budget = budget_config(budget)

    def _long(self, windows: pl.DataFrame) -> pl.DataFrame:
        return windows.select("entity", "window_start", *self.dimensions).unpivot(
            index=["entity", "window_start"], on=list(self.dimensions), variable_name="dim",
            value_name="v").with_columns(
            pl.concat_str("entity", pl.lit(_KEY_SEP), "dim").alias("key"))

    def update_baselines(
        self, windows: pl.DataFrame, values: pl.DataFrame, hours: pl.DataFrame
    ) -> None:
        """Budgeted update once anchored; before that, history is recorded for the anchor."""
        budget = self._budget()
        if budget is None:
            rec = self._long(windows)
            prev: pl.DataFrame | None = getattr(self, "anchor_history_", None)
            self.anchor_history_ = rec if prev is None else pl.concat([prev, rec])
            super().update_baselines(windows, values, hours)
            return
        long = self._long(windows)
        admitted, _ = budget.admit(long["key"].to_numpy(), long["v"].to_numpy(),
                                   window=self.updates_)
        self.updates_ += 1
        clipped = long.with_columns(pl.Series("v", admitted)).pivot(
            on="dim", index=["entity", "window_start"], values="v")
        rebuilt = windows.drop(list(self.dimensions)).join(
            clipped, on=["entity", "window_start"], how="left", maintain_order="left")
        held = sorted({k.split(_KEY_SEP, 1)[0] for k in budget.held_keys()})
        # a held entity learns nothing until a person signs a new anchor
        super().update_baselines(*(f.filter(~pl.col("entity").is_in(held))
                                   for f in (rebuilt, values, hours)))

    def anchor(self, signer: Signer, config: BudgetConfig | None = None,
               every: str = "1d") -> SignedAnchor:
        """Sign the robust statistics of the history learned so far and start budgeting.

        ``every`` is the span of one budget window (one ``learn`` call), used to measure how
        much window medians naturally vary.
        """
        hist: pl.DataFrame | None = getattr(self, "anchor_history_", None)
        if hist is None or hist.is_empty():
            raise ValueError("fit the detector on vetted history before anchoring")
        day = hist["window_start"].dt.truncate(every).rank("dense").to_numpy()
        cfg = config or self.budget or BudgetConfig()
        signed = Anchor.from_values(hist["key"].to_numpy(), day, hist["v"].to_numpy(),
                                    cfg.min_spread).sign(signer)
        self.attach(signed, Verifier(signer.public_key), cfg)
        return signed

    def drift_findings(self) -> pl.DataFrame:
        """Findings raised by the budget so far (entity and dimension split out)."""
        rows = self.budget_findings()
        if not rows:
            return pl.DataFrame(schema={"entity": pl.String, "dimension": pl.String,
                                        "kind": pl.String, "window": pl.Int64})
        f = pl.DataFrame(rows)
        return f.with_columns(
            pl.col("key").str.split_exact(_KEY_SEP, 1).struct.rename_fields(
                ["entity", "dimension"])).unnest("key")
