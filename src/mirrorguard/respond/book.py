"""The suppression book: rules with who made them, stored, applied to stored alerts too.

Every add and removal is published on the event bus (``kind="suppression"``) with the actor.
With a DuckDB connection, rules live in ``suppressions`` and their hits in
``suppressed_alerts`` (alert id, rule id), filled for the alerts already stored when a rule is
added and for new alerts by :meth:`SuppressionBook.apply_stored`; an expired or removed rule
stops hiding its alerts without rewriting anything.

>>> from datetime import datetime, UTC
>>> import duckdb
>>> book = SuppressionBook(duckdb.connect())
>>> now = datetime(2024, 1, 1, tzinfo=UTC)
>>> r = Suppression.create(reason="scanner", created_by="alice", detector="ids", now=now)
>>> book.add(r, actor="alice", now=now)
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
from mirrorguard.correlate.persist import CorrelationStore
from mirrorguard.errors import MirrorguardError, StoreError
from mirrorguard.respond.suppress import Preview, Suppression, matches, preview

_DDL = """
CREATE TABLE IF NOT EXISTS suppressions (
    suppression_id VARCHAR PRIMARY KEY, rule VARCHAR, created_by VARCHAR,
    created_at TIMESTAMPTZ, expires_at TIMESTAMPTZ, removed_by VARCHAR, removed_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS suppressed_alerts (
    alert_id VARCHAR, suppression_id VARCHAR, applied_at TIMESTAMPTZ,
    PRIMARY KEY (alert_id, suppression_id));
"""


class SuppressionBook:
    """Suppression rules, in memory and (with ``con``) in the store."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None,
                 bus: EventBus | None = None) -> None:
        self.con = con
        self.bus = bus
        self._rules: dict[str, Suppression] = {}
        self._removed: set[str] = set()
        if con is not None:
            con.execute(_DDL)
            self._load()

    def _load(self) -> None:
        assert self.con is not None
        for rule_json, removed in self.con.execute(
                "SELECT rule, removed_at IS NOT NULL FROM suppressions").fetchall():
            d = json.loads(rule_json)
            d["created_at"] = datetime.fromisoformat(d["created_at"])
            d["expires_at"] = datetime.fromisoformat(d["expires_at"]) if d["expires_at"] else None
            d["entities"] = tuple(d["entities"])
            rule = Suppression(**d)
            self._rules[rule.id] = rule
            if removed:
                self._removed.add(rule.id)

    def rules(self, now: datetime) -> list[Suppression]:
        """Rules in force at ``now``."""
        return [r for r in self._rules.values() if r.id not in self._removed
                and r.is_active(now)]

    def add(self, rule: Suppression, actor: str, now: datetime) -> int:
        """Add a rule (idempotent by scope); returns how many stored alerts it now hides."""
        self._rules[rule.id] = rule
        self._removed.discard(rule.id)
        hidden = 0
        if self.con is not None:
            self.con.execute(
                "INSERT OR REPLACE INTO suppressions VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                [rule.id, json.dumps(rule.to_dict()), rule.created_by, rule.created_at,
                 rule.expires_at])
            hidden = self.apply_stored([rule], now)
        self._publish("added", rule, actor, {"hidden_stored_alerts": hidden})
        return hidden

    def remove(self, rule_id: str, actor: str, now: datetime) -> None:
        if rule_id not in self._rules:
            raise MirrorguardError(f"unknown suppression {rule_id!r}")
        self._removed.add(rule_id)
        if self.con is not None:
            self.con.execute("UPDATE suppressions SET removed_by = ?, removed_at = ? "
                             "WHERE suppression_id = ?", [actor, now, rule_id])
        self._publish("removed", self._rules[rule_id], actor, {})

    def apply_stored(self, rules: list[Suppression] | None, now: datetime) -> int:
        """Record hits of ``rules`` (default: all in force) over every stored alert."""
        if self.con is None:
            return 0
        cs = CorrelationStore(self.con)
        alerts = cs.alerts()
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
