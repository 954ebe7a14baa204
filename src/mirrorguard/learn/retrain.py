"""The retraining queue: labelled examples from verdicts wait here until a retrain drains
them through a data screen (the guard's poisoning screen plugs in as ``DataScreen``). Each item
carries the feedback screen's ``weight`` for its verdict; a retrain passes it as the sample
weight, so a down-weighted verdict counts as that fraction of a labelled example.

>>> q = RetrainQueue()
>>> q.put(RetrainItem("supervised", "a1", 1, "vrd-1"))
>>> [i.alert_id for i in q.drain()], len(q)
(['a1'], 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class RetrainItem:
    detector: str
    alert_id: str
    label: int  # 1 = malicious (true positive), 0 = not (false / benign true positive)
    verdict_id: str
    weight: float = 1.0  # the feedback screen's weight: use it as the sample weight


class DataScreen(Protocol):
    """Keeps the items fit to train on (guard/data implements the real one)."""

    def keep(self, items: Sequence[RetrainItem]) -> list[RetrainItem]: ...


class KeepAll:
    def keep(self, items: Sequence[RetrainItem]) -> list[RetrainItem]:
        return list(items)


@dataclass
class RetrainQueue:
    items: list[RetrainItem] = field(default_factory=list)
    rejected: list[RetrainItem] = field(default_factory=list)

    def put(self, item: RetrainItem) -> None:
        self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def drain(self, detector: str | None = None,
              screen: DataScreen | None = None) -> list[RetrainItem]:
        """Take the queued items (of one detector, or all) that pass the screen."""
        take = [i for i in self.items if detector is None or i.detector == detector]
        self.items = [i for i in self.items if i not in take]
        kept = (screen or KeepAll()).keep(take)
        self.rejected.extend(i for i in take if i not in kept)
        return kept
