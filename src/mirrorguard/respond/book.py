"""The suppression book: rules with who made them, stored, applied to stored alerts too.

**Two-person rule.** Silencing a whole detector, or a rule that would hide ``two_person_hidden``
or more stored alerts, is high impact (issue #7): :meth:`SuppressionBook.add` holds such a rule
as *pending* — stored, published (``held``), not in force — until a different person calls
:meth:`SuppressionBook.approve`. Self-approval and approval by ``automation`` are refused.

Every add, hold, approval and removal is published on the event bus (``kind="suppression"``)
with the actor.
With a DuckDB connection, rules live in ``suppressions`` and their hits in
``suppressed_alerts`` (alert id, rule id), filled for the alerts already stored when a rule is
added and for new alerts by :meth:`SuppressionBook.apply_stored`; an expired or removed rule
stops hiding its alerts without rewriting anything.

>>> from datetime import datetime, UTC
>>> import duckdb
>>> book = SuppressionBook(duckdb.connect())
>>> now = datetime(2024, 1, 1, tzinfo=UTC)
>>> r = Suppression.create(reason="scanner", created_by="alice", detector="ids", now=now)
>>> book.add(r, actor="alice", now=now), book.is_pending(r.id), book.rules(now)
(0, True, [])
>>> book.approve(r.id, approver="bob", now=now)
0
>>> [x.id for x in book.rules(now)] == [r.id]
True
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import polars as pl

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.correlate.base import AUTOMATION
from mirrorguard.correlate.persist import CorrelationStore
from mirrorguard.errors import ConfigError, MirrorguardError, StoreError
from mirrorguard.respond.suppress import Preview, Suppression, matches, preview

_DDL = """
CREATE TABLE IF NOT EXISTS suppressions (
    suppression_id VARCHAR PRIMARY KEY, rule VARCHAR, created_by VARCHAR,
    created_at TIMESTAMPTZ, expires_at TIMESTAMPTZ, removed_by VARCHAR, removed_at TIMESTAMPTZ);
ALTER TABLE suppressions ADD COLUMN IF NOT EXISTS status VARCHAR DEFAULT 'active';
ALTER TABLE suppressions ADD COLUMN IF NOT EXISTS approved_by VARCHAR;
ALTER TABLE suppressions ADD COLUMN IF NOT EXISTS approved_at TIMESTAMPTZ;
CREATE TABLE IF NOT EXISTS suppressed_alerts (
    alert_id VARCHAR, suppression_id VARCHAR, applied_at TIMESTAMPTZ,
    PRIMARY KEY (alert_id, suppression_id));
"""

#: a rule hiding at least this many stored alerts needs a second person (as a relabel does)
TWO_PERSON_HIDDEN = 50


class SuppressionBook:
    """Suppression rules, in memory and (with ``con``) in the store."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None,
                 bus: EventBus | None = None, two_person_hidden: int = TWO_PERSON_HIDDEN) -> None:
        self.con = con
        self.bus = bus
        self.two_person_hidden = two_person_hidden
        self._rules: dict[str, Suppression] = {}
        self._removed: set[str] = set()
        self._pending: set[str] = set()
        if con is not None:
            con.execute(_DDL)
            self._load()

    def _load(self) -> None:
        assert self.con is not None
        for rule_json, removed, status in self.con.execute(
                "SELECT rule, removed_at IS NOT NULL, status FROM suppressions").fetchall():
            d = json.loads(rule_json)
            d["created_at"] = datetime.fromisoformat(d["created_at"])
            d["expires_at"] = datetime.fromisoformat(d["expires_at"]) if d["expires_at"] else None
            d["entities"] = tuple(d["entities"])
            rule = Suppression(**d)
            self._rules[rule.id] = rule
            if removed:
                self._removed.add(rule.id)
            if status == "pending":
                self._pending.add(rule.id)

    def rules(self, now: datetime) -> list[Suppression]:
        """Rules in force at ``now`` (pending ones are not)."""
        return [r for r in self._rules.values() if r.id not in self._removed
                and r.id not in self._pending and r.is_active(now)]

    def pending(self) -> list[Suppression]:
        """Rules held for a second person's approval, oldest first."""
        held = [self._rules[i] for i in self._pending if i not in self._removed]
        return sorted(held, key=lambda r: (r.created_at, r.id))

    def is_pending(self, rule_id: str) -> bool:
        return rule_id in self._pending and rule_id not in self._removed

    def needs_second_person(self, rule: Suppression, now: datetime,
                            alerts: pl.DataFrame | None = None) -> bool:
        """A whole-detector rule, or one hiding ``two_person_hidden`` stored alerts or more
        (``alerts``: the stored alerts, when the caller has them already)."""
        if rule.detector is not None and not (rule.entities or rule.rule or rule.fields):
            return True
        if self.con is None:
            return False
        stored = alerts if alerts is not None else CorrelationStore(self.con).alerts()
        return int(matches([rule], stored, now).is_not_null().sum()) >= self.two_person_hidden

    def add(self, rule: Suppression, actor: str, now: datetime) -> int:
        """Add a rule (idempotent by scope); returns how many stored alerts it now hides.

        A high-impact rule (:meth:`needs_second_person`) is held instead: 0 is returned and
        :meth:`is_pending` tells; it takes effect on :meth:`approve` by someone else. Re-adding
        a rule already in force does not put it back on hold.
        """
        in_force = (rule.id in self._rules and rule.id not in self._pending
                    and rule.id not in self._removed)
        alerts = CorrelationStore(self.con).alerts() if self.con is not None else None
        held = not in_force and self.needs_second_person(rule, now, alerts)
        self._rules[rule.id] = rule
        self._removed.discard(rule.id)
        if held:
            self._pending.add(rule.id)
        if self.con is not None:
            self.con.execute(
                "INSERT OR REPLACE INTO suppressions (suppression_id, rule, created_by, "
                "created_at, expires_at, status) VALUES (?, ?, ?, ?, ?, ?)",
                [rule.id, json.dumps(rule.to_dict()), rule.created_by, rule.created_at,
                 rule.expires_at, "pending" if held else "active"])
        if held:
            self._publish("held", rule, actor, {"needs": "approval by a second person"})
            return 0
        hidden = self.apply_stored([rule], now, alerts)
        self._publish("added", rule, actor, {"hidden_stored_alerts": hidden})
        return hidden

    def approve(self, rule_id: str, approver: str, now: datetime) -> int:
        """A second person puts a held rule in force; returns the stored alerts it hides."""
        if not self.is_pending(rule_id):
            raise MirrorguardError(f"no suppression {rule_id!r} is waiting for approval")
        rule = self._rules[rule_id]
        if approver in (rule.created_by, AUTOMATION) or not approver.strip():
            self._publish("approval_refused", rule, approver or AUTOMATION,
                          {"reason": "self_approval" if approver == rule.created_by
                           else "not_a_person"})
            raise ConfigError(f"{rule_id} needs approval by a person other than "
                              f"{rule.created_by!r}")
        self._pending.discard(rule_id)
        if self.con is not None:
            self.con.execute("UPDATE suppressions SET status = 'active', approved_by = ?, "
                             "approved_at = ? WHERE suppression_id = ?", [approver, now, rule_id])
        hidden = self.apply_stored([rule], now)
        self._publish("approved", rule, approver, {"requested_by": rule.created_by,
                                                   "hidden_stored_alerts": hidden})
        return hidden

    def remove(self, rule_id: str, actor: str, now: datetime) -> None:
        if rule_id not in self._rules:
            raise MirrorguardError(f"unknown suppression {rule_id!r}")
        self._removed.add(rule_id)
        if self.con is not None:
            self.con.execute("UPDATE suppressions SET removed_by = ?, removed_at = ? "
                             "WHERE suppression_id = ?", [actor, now, rule_id])
        self._publish("removed", self._rules[rule_id], actor, {})

    def apply_stored(self, rules: list[Suppression] | None, now: datetime,
                     alerts: pl.DataFrame | None = None) -> int:
        """Record hits of ``rules`` (default: all in force) over every stored alert
        (``alerts``: the stored alerts, when the caller has them already)."""
        if self.con is None:
            return 0
        if alerts is None:
            alerts = CorrelationStore(self.con).alerts()
        hit = matches(rules if rules is not None else self.rules(now), alerts, now)
        pairs = alerts.select(pl.col("alert.id").alias("alert_id"), hit).drop_nulls()
        pairs = pairs.with_columns(pl.lit(now).alias("applied_at"))
        if pairs.height:
            self.con.register("__mg_sup", pairs.to_arrow())
            try:
                self.con.execute("INSERT OR IGNORE INTO suppressed_alerts "
                                 "SELECT alert_id, suppressed_by, applied_at FROM __mg_sup")
            finally:
                self.con.unregister("__mg_sup")
        return pairs.height

    def hidden(self, alerts: pl.DataFrame, now: datetime) -> frozenset[str]:
        """Ids of ``alerts`` hidden at ``now`` by a rule in force."""
        hit = matches(self.rules(now), alerts, now)
        return frozenset(alerts.filter(hit.is_not_null())["alert.id"].to_list())

    def preview(self, rule: Suppression, days: int, now: datetime) -> Preview:
        """What ``rule`` would have hidden over the stored alerts of the last ``days`` days."""
        if self.con is None:
            raise StoreError("a preview needs the store (no connection given)")
        cs = CorrelationStore(self.con)
        membership = cs._frame("SELECT incident_id, alert_id FROM incident_alerts")
        return preview(rule, cs.alerts(), membership, self.true_positive_ids(), days=days,
                       now=now)

    def true_positive_ids(self) -> set[str]:
        """Alert and incident ids with an accepted true-positive verdict in the store."""
        if self.con is None:
            return set()
        exists = self.con.execute("SELECT count(*) FROM information_schema.tables "
                                  "WHERE table_name = 'verdicts'").fetchall()[0][0]
        if not exists:
            return set()
        rows = self.con.execute("SELECT target_id FROM verdicts WHERE accepted AND "
                                "label = 'true_positive'").fetchall()
        return {str(r[0]) for r in rows}

    def _publish(self, change: str, rule: Suppression, actor: str,
                 extra: dict[str, object]) -> None:
        if self.bus is not None:
            self.bus.publish(BusEvent(kind="suppression", actor=actor, payload={
                "change": change, "suppression": rule.id, "rule": rule.to_dict(), **extra}))
