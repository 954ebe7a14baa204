"""The response engine: plan actions from playbooks, approve, execute, undo, expire.

* **Dry-run is the default.** ``ResponseEngine(dry_run=True)`` executes nothing: each action
  records what it *would* do (the nftables line, the POST) and its status becomes ``dry_run``.
* **Tiers.** ``automatic`` actions (enrich, tag, notify) and ``automatic_undo`` actions
  (block an IP, call a webhook; they carry a TTL) run without a person; ``approval`` actions
  (isolate a host, disable an account) stay ``awaiting_approval`` until a named person
  approves them — ``automation`` cannot approve.
* **Idempotent.** An action's id is a hash of (incident, playbook, action position, type,
  target): planning or running the same playbook on the same incident again finds the same
  actions and changes nothing; backends are idempotent too.
* **Recorded.** Every plan, approval, execution and undo is an entry in the action's history
  and a bus event (``kind="action"``) with the actor — a person's id or ``automation``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.correlate.base import AUTOMATION, Incident
from mirrorguard.respond.backends import ActionError, Backend, HostsDenyFile, NftSetFile, Webhook
from mirrorguard.respond.playbook import ActionSpec, Playbook, PlaybookSet, Tier

ActionStatus = Literal["awaiting_approval", "planned", "approved", "dry_run", "active", "done",
                       "undone", "failed"]
_DDL = """CREATE TABLE IF NOT EXISTS actions (action_id VARCHAR PRIMARY KEY, incident_id VARCHAR,
status VARCHAR, record VARCHAR, updated_at TIMESTAMPTZ)"""


@dataclass(frozen=True)
class ResponseFiles:
    """Where file backends write (nothing is written in dry-run)."""

    nft_set: Path = Path("mirrorguard-blocklist.nft")
    hosts_deny: Path = Path("mirrorguard-hosts.deny")


@dataclass
class ActionRecord:
    id: str
    incident: str
    playbook: str
    spec: ActionSpec
    target: str
    status: ActionStatus
    history: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None

    @property
    def tier(self) -> Tier:
        return self.spec.tier

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "incident": self.incident, "playbook": self.playbook,
                "type": self.spec.type, "backend": self.spec.backend, "tier": self.tier,
                "target": self.target, "status": self.status, "ttl": self.spec.ttl,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "result": self.result, "history": self.history}


def targets_of(inc: Incident, kind: str) -> list[str]:
    """Target values of an incident for a playbook's ``targets`` setting."""
    if kind == "incident":
        return [inc.id]
    want = "ip" if kind == "external_ip" else kind
    vals = [e.partition(":")[2] for e in inc.entities if e.partition(":")[0] == want]
    if kind == "external_ip":
        vals = [v for v in vals if _is_global(v)]
    return vals


def _is_global(v: str) -> bool:
    try:
        return ipaddress.ip_address(v).is_global
    except ValueError:
        return False


class ResponseEngine:
    """Plans and runs playbook actions (see the module docstring)."""

    def __init__(self, playbooks: PlaybookSet, *, dry_run: bool = True,
                 files: ResponseFiles | None = None, bus: EventBus | None = None,
                 con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.playbooks = playbooks
        self.dry_run = dry_run
        self.files = files or ResponseFiles()
        self.bus = bus
        self.con = con
        self.tags: dict[str, set[str]] = {}
        self._actions: dict[str, ActionRecord] = {}
        if con is not None:
            con.execute(_DDL)

    # ----- planning ---------------------------------------------------------------------------
    def plan(self, inc: Incident, techniques: set[str], now: datetime,
             actor: str = AUTOMATION) -> list[ActionRecord]:
        """Actions of every playbook whose trigger matches ``inc`` (existing ones reused)."""
        out = []
        for pb in self.playbooks.playbooks:
            if pb.trigger.matches(inc, techniques):
                out += self._plan_playbook(pb, inc, now, actor)
        return out

    def _plan_playbook(self, pb: Playbook, inc: Incident, now: datetime,
                       actor: str) -> list[ActionRecord]:
        out = []
        for pos, spec in enumerate(pb.actions):
            for target in targets_of(inc, spec.targets):
                key = json.dumps([inc.id, pb.name, pos, spec.type, target])
                aid = "act-" + hashlib.sha256(key.encode()).hexdigest()[:16]
                rec = self._actions.get(aid)
                if rec is None:
                    status: ActionStatus = ("awaiting_approval" if spec.tier == "approval"
                                            else "planned")
                    rec = ActionRecord(aid, inc.id, pb.name, spec, target, status)
                    self._actions[aid] = rec
                    self._log(rec, "planned", actor, now)
                out.append(rec)
        return out

    # ----- approval, execution, undo -------------------------------------------------------------
    def approve(self, action_id: str, approver: str, now: datetime) -> ActionRecord:
        """A named person approves an approval-tier action."""
        rec = self.get(action_id)
        if not approver.strip() or approver == AUTOMATION:
            raise ActionError("approval needs a person's id, not automation", record=action_id)
        if rec.tier != "approval":
            raise ActionError(f"{rec.spec.type} does not need approval", record=action_id)
        if rec.status == "awaiting_approval":
            rec.status = "approved"
            self._log(rec, "approved", approver, now)
        return rec

    def execute(self, action_id: str, actor: str, now: datetime) -> ActionRecord:
        """Run one action (or, in dry-run, record what it would do). Idempotent."""
        rec = self.get(action_id)
        if rec.status in ("active", "done", "undone", "failed"):
            return rec
        if rec.tier == "approval" and not any(h["change"] == "approved" for h in rec.history):
            raise ActionError(f"{rec.spec.type} needs approval by a person first",
                              record=action_id)
        backend = self._backend(rec.spec)
        ttl = rec.spec.ttl_delta()
        if self.dry_run:
            if rec.status != "dry_run":
                rec.result = {"would": self._describe(rec, backend, "apply", ttl)}
                rec.status = "dry_run"
                self._log(rec, "dry_run", actor, now)
            return rec
        try:
            rec.result = (self._internal(rec, now) if backend is None
                          else backend.apply(rec.target, ttl, rec.id))
        except ActionError as exc:
            rec.status = "failed"
            rec.result = {"error": exc.message}
            self._log(rec, "failed", actor, now)
            raise
        rec.status = "active" if rec.tier == "automatic_undo" or ttl else "done"
        rec.expires_at = now + ttl if ttl else None
        self._log(rec, "executed", actor, now)
        return rec

    def undo(self, action_id: str, actor: str, now: datetime, reason: str = "") -> ActionRecord:
        """Revert an executed action (idempotent: undoing twice changes nothing)."""
        rec = self.get(action_id)
        if rec.status != "active":
            return rec
        backend = self._backend(rec.spec)
        if backend is not None:
            rec.result = {**rec.result, "undo": backend.revert(rec.target, rec.id)}
        elif rec.spec.type == "tag":
            self.tags.get(rec.incident, set()).discard(rec.spec.tag or "")
        rec.status = "undone"
        self._log(rec, "undone", actor, now, reason=reason)
        return rec

    def expire(self, now: datetime) -> list[ActionRecord]:
        """Undo every active action whose TTL has run out (actor: automation)."""
        due = [r for r in self._actions.values()
               if r.status == "active" and r.expires_at is not None and r.expires_at <= now]
        return [self.undo(r.id, AUTOMATION, now, reason="ttl expired") for r in due]

    def run(self, inc: Incident, techniques: set[str], now: datetime,
            actor: str = AUTOMATION) -> list[ActionRecord]:
        """Plan, then execute every action that needs no approval."""
        recs = self.plan(inc, techniques, now, actor)
        for r in recs:
            if r.tier != "approval":
                self.execute(r.id, actor, now)
        return recs

    # ----- helpers --------------------------------------------------------------------------
    def get(self, action_id: str) -> ActionRecord:
        try:
            return self._actions[action_id]
        except KeyError:
            raise ActionError(f"unknown action {action_id!r}") from None

    def actions(self) -> list[ActionRecord]:
        return list(self._actions.values())

    def _backend(self, spec: ActionSpec) -> Backend | None:
        if spec.backend == "nftables":
            return NftSetFile(self.files.nft_set)
        if spec.backend == "hosts_deny":
            return HostsDenyFile(self.files.hosts_deny)
        if spec.backend == "webhook":
            return Webhook(spec.url or "", spec.type, spec.token_env)
        return None

    def _describe(self, rec: ActionRecord, backend: Backend | None, op: str,
                  ttl: timedelta | None) -> str:
        if backend is not None:
            return backend.describe(op, rec.target, ttl)
        detail = rec.spec.tag or rec.spec.message or ""
        return f"{rec.spec.type} incident {rec.incident} {detail}".strip()

    def _internal(self, rec: ActionRecord, now: datetime) -> dict[str, Any]:
        if rec.spec.type == "tag":
            tag = rec.spec.tag or rec.playbook
            added = tag not in self.tags.setdefault(rec.incident, set())
            self.tags[rec.incident].add(tag)
            return {"changed": added, "tag": tag}
        return {"changed": True, "note": self._describe(rec, None, "apply", None)}

    def _log(self, rec: ActionRecord, change: str, actor: str, now: datetime,
             reason: str = "") -> None:
        entry = {"change": change, "actor": actor, "time": now.isoformat(),
                 "dry_run": self.dry_run, **({"reason": reason} if reason else {})}
        rec.history.append(entry)
        if self.bus is not None:
            self.bus.publish(BusEvent(kind="action", actor=actor, time=now, payload={
                "action": rec.id, "change": change, "type": rec.spec.type, "tier": rec.tier,
                "target": rec.target, "incident": rec.incident, "playbook": rec.playbook,
                "dry_run": self.dry_run}))
        if self.con is not None:
            self.con.execute("INSERT OR REPLACE INTO actions VALUES (?, ?, ?, ?, ?)",
                             [rec.id, rec.incident, rec.status,
                              json.dumps(rec.to_dict(), default=str), now])
