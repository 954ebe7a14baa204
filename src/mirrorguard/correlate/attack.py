"""ATT&CK techniques → tactics, in kill-chain order, for incident scoring.

A thin view of the shipped ATT&CK Enterprise table (:mod:`mirrorguard.attack`): the tactic
order of the Enterprise matrix (reconnaissance → impact) and each technique's tactics.
Revoked techniques follow their replacement; an unknown sub-technique falls back to its
parent technique (a newer sub-technique id still says which tactic it serves).

>>> tm = TacticMap.default()
>>> tm.tactics("T1003.001")
('credential-access',)
>>> tm.stage("credential-access") < tm.stage("lateral-movement")
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from mirrorguard.attack import AttackTable, default_table


@dataclass(frozen=True)
class TacticMap:
    """Technique id → tactic short names, and the kill-chain order of tactics."""

    order: tuple[str, ...]
    techniques: dict[str, tuple[str, ...]]

    @classmethod
    def default(cls) -> TacticMap:
        """From the ATT&CK table shipped with mirrorguard."""
        return _default()

    @classmethod
    def from_table(cls, table: AttackTable) -> TacticMap:
        order = tuple(t.shortname for t in sorted(table.tactics, key=lambda t: t.order))
        techs: dict[str, tuple[str, ...]] = {}
        for tid in table.techniques:
            tech = table.lookup(tid)
            if tech is not None and not tech.deprecated:
                techs[tid.upper()] = tuple(t for t in order if t in tech.tactics)
        return cls(order=order, techniques=techs)

    def tactics(self, technique: str) -> tuple[str, ...]:
        """Tactics of a technique id (case-insensitive); empty when unknown."""
        tid = technique.strip().upper().removeprefix("ATTACK.")
        found = self.techniques.get(tid)
        if found is None and "." in tid:
            found = self.techniques.get(tid.split(".", 1)[0])
        return found or ()

    def stage(self, tactic: str) -> int:
        """Kill-chain position of a tactic (0 = reconnaissance); -1 when unknown."""
        try:
            return self.order.index(tactic)
        except ValueError:
            return -1

    def stages(self, techniques: tuple[str, ...] | list[str]) -> tuple[int, ...]:
        """Sorted distinct kill-chain positions of a set of techniques."""
        return tuple(sorted({self.stage(t) for tech in techniques for t in self.tactics(tech)
                             if self.stage(t) >= 0}))


@cache
def _default() -> TacticMap:
    return TacticMap.from_table(default_table())
