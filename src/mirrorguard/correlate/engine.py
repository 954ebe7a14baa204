"""The entity correlator: alerts join incidents through shared entities in sliding windows.

Per alert (alerts are sorted by time within each batch; entity keys are extracted for the
whole batch at once by :func:`~mirrorguard.correlate.entities.alert_keys`):

1. **Deduplicate.** The fingerprint is ``sha256(detector, title, entity keys, techniques)``;
   the same fingerprint within ``dedupe_window`` of its last sighting is a *repeat*: it joins
   the incident of the first sighting and raises its repeat count but adds no new evidence
   to the risk. The very same alert id twice is ignored (replays are idempotent).
2. **Link.** For every linking key (see the hub rule in :mod:`.entities`), the per-entity
   state says when the entity was last seen and in which incident. Incidents whose entity
   was seen within ``window`` are candidates: none → a new incident; one → join it;
   several → they **merge** into the oldest, and both keep a history entry naming the
   entities that joined them.
3. **Split.** When a key becomes a hub, the incidents it held together are re-checked: the
   connected components of their alerts (alerts sharing a still-linking key within the
   window) become separate incidents; the component with the earliest alert keeps the id.

All state is keyed by entity (``EntityState`` per key, hub degrees per key), so it can be
partitioned by key across workers; incident ids are deterministic (a hash of the first
alert's id), so replaying the same alerts in the same order gives the same incidents.

>>> from datetime import datetime, timedelta, UTC
>>> from mirrorguard.schema.alerts import Alert, Explanation, Severity, alerts_to_frame
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> a = [Alert(t0 + timedelta(minutes=i), "sigma", 0.8, Severity.HIGH, Explanation("x"),
...            {"host": ("ws1",), "user": (u,)}, ("T1059.001",), title=f"rule {i}")
...      for i, u in enumerate(["bob", "bob", "eve"])]
>>> c = EntityCorrelator()
>>> _ = c.add(alerts_to_frame(a))
>>> [i.size for i in c.incidents()]
[3]
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.correlate.attack import TacticMap
from mirrorguard.correlate.base import (
    AUTOMATION,
    CorrelationParams,
    HistoryEntry,
    Incident,
    IncidentChange,
    Status,
)
from mirrorguard.correlate.components import components
from mirrorguard.correlate.entities import HubTracker, alert_keys
from mirrorguard.correlate.scoring import evidence, longest_chain, risk_score
from mirrorguard.errors import MirrorguardError, SchemaError

REQUIRED = ("alert.id", "@timestamp", "detector", "score")


@dataclass
class AlertRecord:
    """What the correlator keeps of one alert."""

    id: str
    time: datetime
    detector: str
    title: str
    score: float
    keys: tuple[str, ...]
    techniques: tuple[str, ...]
    stages: tuple[int, ...]
    fingerprint: str
    canonical: str  # id of the first sighting of this fingerprint (itself if first)
    repeats: int = 0


@dataclass
class EntityState:
    last_seen: datetime
    incident: str


@dataclass
class _Inc:
    id: str
    alerts: list[str]
    history: list[HistoryEntry]
    status: Status = "open"
    assignee: str | None = None


@dataclass
class EntityCorrelator:
    """Incremental entity/time-window correlator (see the module docstring)."""

    params: CorrelationParams = field(default_factory=CorrelationParams)
    tactic_map: TacticMap = field(default_factory=TacticMap.default)
    bus: EventBus | None = None
    weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.alerts_: dict[str, AlertRecord] = {}
        self.entities_: dict[str, EntityState] = {}
        self.hubs_ = HubTracker(self.params.window, self.params.max_degree)
        self._fp_last: dict[str, tuple[str, datetime]] = {}
        self._incs: dict[str, _Inc] = {}
        self._alias: dict[str, str] = {}
        self._alert_inc: dict[str, str] = {}

    # ----- ingest ---------------------------------------------------------------------------
    def add(self, alerts: pl.DataFrame) -> list[IncidentChange]:
        """Fold a batch of alerts (ALERT_SCHEMA columns) into the incidents."""
        missing = [c for c in REQUIRED if c not in alerts.columns]
        if missing:
            raise SchemaError(f"alert frame lacks columns {missing}")
        frame = alerts.sort("@timestamp", maintain_order=True)
        keys = alert_keys(frame)
        cols = [c for c in ("alert.id", "@timestamp", "detector", "title", "score",
                            "attack.techniques") if c in frame.columns]
        tracker = _Changes()
        for i, row in enumerate(frame.select(cols).iter_rows(named=True)):
            rec = self._record(row, keys[i])
            if rec is not None:
                self._place(rec, tracker)
        changes = tracker.changes()
        self._publish(changes)
        return changes

    def _record(self, row: dict[str, Any], keys: tuple[str, ...]) -> AlertRecord | None:
        aid = str(row["alert.id"])
        if aid in self.alerts_:
            return None
        when = row["@timestamp"]
        if not isinstance(when, datetime):
            raise SchemaError("alert without a timestamp", record=aid)
        techs = tuple(sorted({str(t) for t in (row.get("attack.techniques") or [])}))
        title = str(row.get("title") or "")
        det = str(row["detector"])
        fp = hashlib.sha256("\x1f".join([det, title, *keys, "|", *techs]).encode()).hexdigest()[:24]
        return AlertRecord(aid, when, det, title, float(row["score"] or 0.0), keys, techs,
                           self.tactic_map.stages(techs), fp, aid)

    def _place(self, rec: AlertRecord, ch: _Changes) -> None:
        self.alerts_[rec.id] = rec
        first = self._fp_last.get(rec.fingerprint)
        if first is not None and abs(rec.time - first[1]) <= self.params.dedupe_window:
            canon = self.alerts_[first[0]]
            rec.canonical = canon.id
            canon.repeats += 1
        self._fp_last[rec.fingerprint] = (rec.canonical, rec.time)
        new_hubs = self.hubs_.observe(rec.keys, rec.time)
        linking = [k for k in rec.keys if self.hubs_.links(k)]
        if rec.canonical != rec.id:
            target = self.find(self._alert_inc[rec.canonical])
        else:
            target = self._link(rec, linking, ch)
        self._incs[target].alerts.append(rec.id)
        self._alert_inc[rec.id] = target
        ch.added(target)
        for k in linking:
            self.entities_[k] = EntityState(rec.time, target)
        for hub in new_hubs:
            self._split_on_hub(hub, rec.time, ch)

    def _link(self, rec: AlertRecord, linking: list[str], ch: _Changes) -> str:
        window = self.params.window
        via: dict[str, list[str]] = {}
        for k in linking:
            st = self.entities_.get(k)
            if st is not None and abs(rec.time - st.last_seen) <= window:
                via.setdefault(self.find(st.incident), []).append(k)
        if not via:
            inc_id = "inc-" + hashlib.sha256(rec.id.encode()).hexdigest()[:12]
            self._incs[inc_id] = _Inc(inc_id, [], [HistoryEntry(
                rec.time, "created", AUTOMATION, {"first_alert": rec.id})])
            ch.created(inc_id)
            return inc_id
        ordered = sorted(via, key=self._first_time_key)
        survivor = ordered[0]
        for other in ordered[1:]:
            self._merge(survivor, other, via[other], rec.time, ch)
        return survivor

    def _first_time_key(self, inc_id: str) -> tuple[datetime, str]:
        first = self.alerts_[self._incs[inc_id].alerts[0]].time
        return first, inc_id

    def _merge(self, survivor: str, other: str, via: list[str], when: datetime,
               ch: _Changes) -> None:
        s, o = self._incs[survivor], self._incs[other]
        s.alerts.extend(o.alerts)
        for aid in o.alerts:
            self._alert_inc[aid] = survivor
        o.alerts = []
        o.status = "merged"
        s.history.append(HistoryEntry(when, "merged", AUTOMATION, {"from": other, "via": via}))
        o.history.append(HistoryEntry(when, "merged_into", AUTOMATION,
                                      {"into": survivor, "via": via}))
        self._alias[other] = survivor
        ch.merged(survivor, other)

    def _split_on_hub(self, hub: str, when: datetime, ch: _Changes) -> None:
        st = self.entities_.pop(hub, None)
        if st is None:
            return
        inc_id = self.find(st.incident)
        inc = self._incs[inc_id]
        recs = [self.alerts_[a] for a in inc.alerts]
        parts = components(recs, self.hubs_.links, self.params.window)
        if len(parts) <= 1:
            return
        inc.alerts = parts[0]
        inc.history.append(HistoryEntry(when, "split", AUTOMATION, {
            "hub": hub, "into": [self._new_id(p) for p in parts[1:]]}))
        for part in parts[1:]:
            new_id = self._new_id(part)
            self._incs[new_id] = _Inc(new_id, part, [HistoryEntry(
                when, "split_from", AUTOMATION, {"from": inc_id, "hub": hub})])
            self._alias.pop(new_id, None)
            for aid in part:
                self._alert_inc[aid] = new_id
            self._repoint(part, new_id)
            ch.split(inc_id, new_id)

    def _new_id(self, part: list[str]) -> str:
        return "inc-" + hashlib.sha256(part[0].encode()).hexdigest()[:12]

    def _repoint(self, part: list[str], new_id: str) -> None:
        for aid in part:
            rec = self.alerts_[aid]
            for k in rec.keys:
                st = self.entities_.get(k)
                if st is not None and st.last_seen == rec.time:
                    st.incident = new_id

    # ----- reading --------------------------------------------------------------------------
    def find(self, inc_id: str) -> str:
        """The live incident an id now lives in (after merges), with path compression."""
        root = inc_id
        while root in self._alias:
            root = self._alias[root]
        while inc_id != root:
            nxt = self._alias[inc_id]
            self._alias[inc_id] = root
            inc_id = nxt
        return root

    def incident_of(self, alert_id: str) -> str | None:
        inc = self._alert_inc.get(alert_id)
        return None if inc is None else self.find(inc)

    def incident(self, inc_id: str, exclude: frozenset[str] = frozenset()) -> Incident:
        """A snapshot of one incident (merged-away ids resolve to the survivor).

        Alerts in ``exclude`` (suppressed ones) are left out of the snapshot and its risk.
        """
        inc = self._incs.get(self.find(inc_id))
        if inc is None:
            raise MirrorguardError(f"unknown incident {inc_id!r}")
        return self._snapshot(inc, exclude)

    def live_ids(self) -> list[str]:
        """Ids of incidents that still hold alerts (not merged away)."""
        return [i.id for i in self._incs.values() if i.alerts]

    def incidents(self) -> list[Incident]:
        """All live incidents, highest risk first (then latest activity, then id)."""
        snaps = [self._snapshot(i) for i in self._incs.values() if i.alerts]
        return sorted(snaps, key=lambda s: (-s.risk, -s.last_time.timestamp(), s.id))

    def _snapshot(self, inc: _Inc, exclude: frozenset[str] = frozenset()) -> Incident:
        recs = [self.alerts_[a] for a in inc.alerts if a not in exclude]
        distinct = [r for r in recs if r.canonical == r.id or r.canonical in exclude]
        dets = sorted({r.detector for r in recs})
        chain = longest_chain((r.time, r.stages) for r in distinct)
        ev = evidence([r.score for r in distinct], [r.detector for r in distinct], self.weights)
        stages = sorted({s for r in distinct for s in r.stages})
        ents = sorted({k for r in recs for k in r.keys})
        times = [r.time for r in recs] or [inc.history[0].time]
        top = max(distinct, key=lambda r: (r.score, r.time), default=None)
        title = top.title if top is not None else ""
        return Incident(
            id=inc.id, status=inc.status, risk=risk_score(ev, chain, len(dets)),
            first_time=min(times), last_time=max(times), alert_ids=tuple(r.id for r in recs),
            distinct_alerts=len(distinct), entities=tuple(ents), detectors=tuple(dets),
            tactics=tuple(self.tactic_map.order[s] for s in stages), chain=chain,
            title=title, history=tuple(inc.history), assignee=inc.assignee)

    # ----- status ---------------------------------------------------------------------------
    def set_status(self, inc_id: str, status: Status, actor: str, reason: str = "",
                   when: datetime | None = None) -> Incident:
        """Change an incident's status, recording who did it (a person or automation)."""
        inc = self._incs.get(self.find(inc_id))
        if inc is None or status == "merged":
            raise MirrorguardError(f"cannot set status {status!r} on {inc_id!r}")
        stamp = when or max(self.alerts_[a].time for a in inc.alerts)
        inc.history.append(HistoryEntry(stamp, "status", actor,
                                        {"from": inc.status, "to": status, "reason": reason}))
        inc.status = status
        self._publish([IncidentChange(inc.id, "status", detail={"to": status})], actor)
        return self._snapshot(inc)

    def restore(self, inc_id: str, status: Status, assignee: str | None,
                history: list[HistoryEntry]) -> None:
        """Put back a stored status and its history after a replay (nothing is published)."""
        inc = self._incs.get(self.find(inc_id))
        if inc is None or status == "merged":
            return
        inc.status, inc.assignee = status, assignee
        known = {(h.time, h.action, h.actor) for h in inc.history}
        inc.history.extend(h for h in history if (h.time, h.action, h.actor) not in known)

    def _publish(self, changes: list[IncidentChange], actor: str = AUTOMATION) -> None:
        if self.bus is None:
            return
        for c in changes:
            self.bus.publish(BusEvent(kind="incident", actor=actor, payload={
                "incident": c.incident, "change": c.kind, "alerts_added": c.alerts_added,
                **c.detail}))


class _Changes:
    """Collects one batch's changes so each incident is reported once per kind."""

    def __init__(self) -> None:
        self._created: list[str] = []
        self._added: dict[str, int] = {}
        self._merged: list[tuple[str, str]] = []
        self._split: list[tuple[str, str]] = []

    def created(self, inc: str) -> None:
        self._created.append(inc)

    def added(self, inc: str) -> None:
        self._added[inc] = self._added.get(inc, 0) + 1

    def merged(self, survivor: str, other: str) -> None:
        self._merged.append((survivor, other))

    def split(self, old: str, new: str) -> None:
        self._split.append((old, new))

    def changes(self) -> list[IncidentChange]:
        out = [IncidentChange(i, "created", self._added.get(i, 0)) for i in self._created]
        made = set(self._created)
        out += [IncidentChange(i, "updated", n) for i, n in self._added.items() if i not in made]
        out += [IncidentChange(s, "merged", detail={"from": o}) for s, o in self._merged]
        out += [IncidentChange(n, "split", detail={"from": o}) for o, n in self._split]
        return out
