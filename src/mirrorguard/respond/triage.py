"""The triage queue: open incidents, highest risk first, with suppressed alerts left out.

An incident's place is computed on its *visible* alerts: those not hidden by a suppression
in force and not over their detector's budget. An incident with no visible alert leaves the
queue (it is counted, not deleted). Ties break on the latest activity, then the id, so the
order is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from mirrorguard.correlate.base import Incident
from mirrorguard.correlate.engine import EntityCorrelator
from mirrorguard.respond.book import SuppressionBook
from mirrorguard.respond.budget import AlertBudget


@dataclass(frozen=True)
class QueueItem:
    rank: int
    incident: Incident
    suppressed: int
    over_budget: int

    def to_dict(self) -> dict[str, object]:
        inc = self.incident
        return {"rank": self.rank, "incident": inc.id, "risk": round(inc.risk, 2),
                "alerts": inc.size, "suppressed": self.suppressed,
                "over_budget": self.over_budget, "tactics": list(inc.tactics),
                "detectors": list(inc.detectors), "title": inc.title,
                "last_time": inc.last_time.isoformat(), "status": inc.status}


@dataclass(frozen=True)
class Queue:
    items: list[QueueItem]
    hidden_incidents: int


def build_queue(correlator: EntityCorrelator, alerts: pl.DataFrame, *, now: datetime,
                book: SuppressionBook | None = None, budget: AlertBudget | None = None,
                include_closed: bool = False) -> Queue:
    """Rank the correlator's incidents for an analyst (see the module docstring)."""
    suppressed = book.hidden(alerts, now) if book is not None else frozenset()
    over: frozenset[str] = frozenset()
    if budget is not None and alerts.height:
        over = frozenset(alerts.filter(budget.over_budget(alerts))["alert.id"].to_list())
    exclude = suppressed | over
    snaps: list[tuple[Incident, int, int]] = []
    hidden = 0
    for inc_id in correlator.live_ids():
        full = correlator.incident(inc_id)
        if not include_closed and full.status in ("closed", "merged"):
            continue
        vis = correlator.incident(inc_id, exclude) if exclude else full
        if vis.size == 0:
            hidden += 1
            continue
        ids = set(full.alert_ids)
        snaps.append((vis, len(ids & suppressed), len(ids & over - suppressed)))
    snaps.sort(key=lambda s: (-s[0].risk, -s[0].last_time.timestamp(), s[0].id))
    items = [QueueItem(n + 1, inc, sup, ob) for n, (inc, sup, ob) in enumerate(snaps)]
    return Queue(items, hidden)
