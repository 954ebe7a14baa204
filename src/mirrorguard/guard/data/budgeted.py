"""What every detector behind a drift budget shares: attaching a signed anchor, reading the
budget's findings and holds, and saving the budget with the detector's own state.

A guarded detector is ``class GuardedX(Budgeted, X)``: it keeps its ``budget`` parameter (a
:class:`BudgetConfig`, or its dict when rebuilt from saved parameters), builds its anchor its
own way and calls :meth:`Budgeted.attach`; everything else comes from here. The budget's state
(signed anchor and its key, levels, CUSUMs, holds, findings) is saved under ``budget``-prefixed
entries, so a restart carries on guarded.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Self

import numpy as np

from mirrorguard.guard.data.drift import BudgetConfig, DriftBudget, SignedAnchor
from mirrorguard.guard.keys import Verifier

_PREFIX = "budget_"


def budget_config(value: BudgetConfig | dict[str, Any] | None) -> BudgetConfig | None:
    """A budget setting given as a :class:`BudgetConfig` or as its dict (saved parameters)."""
    return BudgetConfig(**value) if isinstance(value, dict) else value


class Budgeted:
    """Mixin for a detector whose learning passes a :class:`DriftBudget` once anchored."""

    budget: BudgetConfig | None
    budget_: DriftBudget
    updates_: int

    def _budget(self) -> DriftBudget | None:
        return getattr(self, "budget_", None)

    def attach(self, signed: SignedAnchor, verifier: Verifier,
               config: BudgetConfig | None = None) -> None:
        """Use a stored anchor (its signature must verify); budgeting starts now."""
        self.budget_ = DriftBudget(signed, verifier, config or self.budget)
        self.updates_ = 0

    def budget_findings(self) -> list[dict[str, Any]]:
        """Findings raised by the budget so far."""
        budget = self._budget()
        return [] if budget is None else list(budget.findings)

    def held(self) -> np.ndarray:
        """Keys whose level is frozen until a new anchor is signed."""
        budget = self._budget()
        return np.array([] if budget is None else budget.held_keys(), dtype=str)

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters with the budget setting as a plain dict (JSON-able)."""
        params: dict[str, Any] = super().get_params()  # type: ignore[misc]
        if isinstance(params.get("budget"), BudgetConfig):
            params["budget"] = asdict(params["budget"])
        return params

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The detector's state plus its budget. History not yet anchored is not saved."""
        meta, arrays = super().get_state()  # type: ignore[misc]
        budget = self._budget()
        if budget is None:
            return {**meta, "budget": None}, arrays
        bmeta, barrays = budget.get_state()
        return ({**meta, "budget": bmeta, "budget_updates": int(self.updates_)},
                {**arrays, **{_PREFIX + k: v for k, v in barrays.items()}})

    @classmethod
    def from_state(cls, params: dict[str, Any], meta: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Self:
        own = {k: v for k, v in arrays.items() if not k.startswith(_PREFIX)}
        det: Self = super().from_state(params, meta, own)  # type: ignore[misc]
        if meta.get("budget") is not None:
            saved = {k.removeprefix(_PREFIX): v for k, v in arrays.items()
                     if k.startswith(_PREFIX)}
            det.budget_ = DriftBudget.from_state(meta["budget"], saved)
            det.updates_ = int(meta["budget_updates"])
        return det
