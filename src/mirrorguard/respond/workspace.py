"""One analyst workspace over the store: alerts, incidents, queue, verdicts, suppressions,
playbooks — the library behind ``mirrorguard incidents|incident|verdict|suppress|playbook``.

Incidents are rebuilt by replaying the stored alerts (deterministic ids), then stored statuses
and histories are put back. Every change goes through the same classes the engine uses and is
published on the workspace's event bus with its actor.

>>> import duckdb
>>> from datetime import datetime, UTC
>>> ws = Workspace(duckdb.connect())
>>> ws.queue(datetime(2024, 1, 1, tzinfo=UTC)).items
[]
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from mirrorguard.bus import EventBus
from mirrorguard.correlate import CorrelationStore, EntityCorrelator, entity_graph, timeline
from mirrorguard.correlate.base import HistoryEntry, IncidentChange
from mirrorguard.learn import AnalystLoop, FeedbackScreen, Verdict, VerdictOutcome, context_for
from mirrorguard.respond.actions import ActionRecord, ResponseEngine, ResponseFiles
from mirrorguard.respond.book import SuppressionBook
from mirrorguard.respond.budget import AlertBudget
from mirrorguard.respond.playbook import load_playbooks
from mirrorguard.respond.suppress import Preview, Suppression
from mirrorguard.respond.triage import Queue, build_queue
from mirrorguard.schema.alerts import VerdictLabel


class Workspace:
    """Correlation, triage, response and the analyst loop over one DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, bus: EventBus | None = None,
                 screen: FeedbackScreen | None = None) -> None:
        self.con = con
        self.bus = bus or EventBus()
        self.store = CorrelationStore(con)
        self.book = SuppressionBook(con, self.bus)
        self.loop = (AnalystLoop(bus=self.bus, con=con, screen=screen) if screen is not None
                     else AnalystLoop(bus=self.bus, con=con))
        self.correlator = self.store.replay(EntityCorrelator())
        self._restore()
        self.correlator.bus = self.bus

    def _restore(self) -> None:
        for row in self.store.incidents().iter_rows(named=True):
            hist = [HistoryEntry(datetime.fromisoformat(h["time"]), h["action"], h["actor"],
                                 h["detail"]) for h in json.loads(row["history"] or "[]")]
            self.correlator.restore(row["incident_id"], row["status"], row["assignee"], hist)

    def add_alerts(self, alerts: pl.DataFrame) -> list[IncidentChange]:
        """Store new alerts, correlate them, apply suppressions in force, save incidents."""
        self.store.append_alerts(alerts)
        changes = self.correlator.add(alerts)
        self.save()
        return changes

    def save(self) -> None:
        self.store.save_incidents(self.correlator.incidents())

    def queue(self, now: datetime, budget: AlertBudget | None = None,
              include_closed: bool = False) -> Queue:
        return build_queue(self.correlator, self.store.alerts(), now=now, book=self.book,
                           budget=budget, include_closed=include_closed)

    def detail(self, incident_id: str) -> dict[str, Any]:
        """Incident, timeline, entity graph and the alerts' explanations."""
        inc = self.correlator.incident(incident_id)
        alerts = self.store.alerts().filter(pl.col("alert.id").is_in(list(inc.alert_ids)))
        expl = {r["alert.id"]: {"text": r["explanation.text"],
                                "detail": json.loads(r["explanation.json"] or "null")}
                for r in alerts.select("alert.id", "explanation.text", "explanation.json")
                .iter_rows(named=True)}
        return {"incident": inc.to_dict(), "timeline": timeline(self.correlator, inc.id),
                "graph": entity_graph(self.correlator, inc.id), "explanations": expl}

    def verdict(self, target_kind: str, target_id: str, analyst: str, label: VerdictLabel,
                reason: str, scope: str, now: datetime) -> VerdictOutcome:
        """Record a person's verdict (and close the incident it is on, by that person, once the
        feedback screen accepts it: a held verdict closes nothing until approved)."""
        ctx = context_for(self.correlator, target_kind, target_id)
        v = Verdict(target_kind, target_id, analyst, label, reason, scope, now)  # type: ignore[arg-type]
        out = self.loop.record(v, ctx)
        if out.decision.accepted and target_kind == "incident":
            self._close(target_id, analyst, f"verdict {label}", now)
        return out

    def approve(self, request_id: str, approver: str, now: datetime) -> VerdictOutcome:
        """A second analyst approves a held verdict (two-person rule); it then takes effect,
        closing the incident it is on (by the approver)."""
        out = self.loop.approve(request_id, approver, now)
        v = out.verdict
        if out.decision.accepted and v.target_kind == "incident":
            self._close(v.target_id, approver, f"verdict {v.label} by {v.analyst}, approved",
                        now)
        return out

    def pending(self) -> list[dict[str, Any]]:
        """Verdicts held for a second analyst's approval, oldest first."""
        held = sorted(self.loop.pending().items(), key=lambda kv: (kv[1][0].time, kv[0]))
        return [{"request_id": rid, **v.to_dict(), "detector": ctx.detector,
                 "alerts": len(ctx.alert_ids)} for rid, (v, ctx) in held]

    def _close(self, incident_id: str, actor: str, reason: str, now: datetime) -> None:
        self.correlator.set_status(incident_id, "closed", actor=actor, reason=reason, when=now)
        self.save()

    def suppression(self, *, reason: str, by: str, now: datetime, ttl: timedelta | None,
                    entities: tuple[str, ...] = (), detector: str | None = None,
                    rule: str | None = None, fields: dict[str, str] | None = None
                    ) -> Suppression:
        return Suppression.create(reason=reason, created_by=by, now=now, ttl=ttl,
                                  entities=entities, detector=detector, rule=rule,
                                  fields=fields)

    def preview(self, rule: Suppression, days: int, now: datetime) -> Preview:
        return self.book.preview(rule, days, now)

    def suppress(self, rule: Suppression, actor: str, now: datetime) -> int:
        """Add a rule; a high-impact one is held for a second person (``book.is_pending``)."""
        return self.book.add(rule, actor, now)

    def approve_suppression(self, rule_id: str, approver: str, now: datetime) -> int:
        """A second person puts a held suppression in force (two-person rule)."""
        return self.book.approve(rule_id, approver, now)

    def run_playbooks(self, path: Path, now: datetime, *, incident_id: str | None = None,
                      dry_run: bool = True, files: ResponseFiles | None = None,
                      actor: str = "automation") -> list[ActionRecord]:
        """Plan and run (dry-run by default) the playbooks on one or all queued incidents."""
        engine = ResponseEngine(load_playbooks(path), dry_run=dry_run, files=files,
                                bus=self.bus, con=self.con)
        ids = ([incident_id] if incident_id else
               [it.incident.id for it in self.queue(now).items])
        out: list[ActionRecord] = []
        for inc_id in ids:
            inc = self.correlator.incident(inc_id)
            techs = {t for a in inc.alert_ids for t in self.correlator.alerts_[a].techniques}
            out += engine.run(inc, techs, now, actor)
        return out
