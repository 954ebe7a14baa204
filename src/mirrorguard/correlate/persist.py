"""Alerts and incidents in the embedded DuckDB store (tables this module owns).

* ``alerts`` — every alert, columns of :data:`~mirrorguard.schema.alerts.ALERT_SCHEMA`
  (``alert.id`` is the primary key: storing the same alert twice is a no-op);
* ``incidents`` — one row per live incident: status, risk, times, tactics, entities,
  detectors and its history (JSON), replaced on every :meth:`CorrelationStore.save_incidents`;
* ``incident_alerts`` — which alert belongs to which incident.

The correlator itself is rebuilt by replaying stored alerts in time order
(:meth:`CorrelationStore.replay`): ids are deterministic, so the same incidents come back.

>>> import duckdb
>>> cs = CorrelationStore(duckdb.connect())
>>> cs.alerts().height
0
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import polars as pl

from mirrorguard.correlate.base import Incident
from mirrorguard.correlate.engine import EntityCorrelator
from mirrorguard.errors import StoreError
from mirrorguard.schema.alerts import ALERT_SCHEMA
from mirrorguard.schema.fields import SCHEMA_VERSION
from mirrorguard.store.types import duckdb_type, quote

_ALERT_COLS = ", ".join(f"{quote(n)} {duckdb_type(t)}" for n, t in ALERT_SCHEMA.items())
_DDL = f"""
CREATE TABLE IF NOT EXISTS alerts ({_ALERT_COLS}, PRIMARY KEY ("alert.id"));
CREATE TABLE IF NOT EXISTS incidents (
    incident_id VARCHAR PRIMARY KEY, status VARCHAR, risk DOUBLE, title VARCHAR,
    first_time TIMESTAMPTZ, last_time TIMESTAMPTZ, n_alerts BIGINT, distinct_alerts BIGINT,
    chain INTEGER, tactics VARCHAR[], detectors VARCHAR[], entities VARCHAR[],
    assignee VARCHAR, history VARCHAR, updated_at TIMESTAMPTZ, schema_version INTEGER);
CREATE TABLE IF NOT EXISTS incident_alerts (incident_id VARCHAR, alert_id VARCHAR);
"""


class CorrelationStore:
    """Read and write the correlation tables through a DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, create: bool = True) -> None:
        self.con = con
        if create:
            self.con.execute(_DDL)

    def _frame(self, sql: str, params: list[object] | None = None) -> pl.DataFrame:
        try:
            rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
            table = rel.to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc
        out = pl.from_arrow(table)
        assert isinstance(out, pl.DataFrame)
        return out

    def append_alerts(self, frame: pl.DataFrame) -> int:
        """Store alerts (already-stored ids are skipped); returns rows newly written."""
        if frame.height == 0:
            return 0
        frame = frame.select([pl.col(n).cast(t) for n, t in ALERT_SCHEMA.items()])
        before = self.count("alerts")
        self.con.register("__mg_alerts", frame.to_arrow())
        try:
            self.con.execute("INSERT OR IGNORE INTO alerts BY NAME SELECT * FROM __mg_alerts")
        except duckdb.Error as exc:
            raise StoreError(f"cannot store alerts: {exc}") from exc
        finally:
            self.con.unregister("__mg_alerts")
        return self.count("alerts") - before

    def count(self, table: str) -> int:
        if table not in ("alerts", "incidents", "incident_alerts"):
            raise StoreError(f"not a correlation table: {table!r}")
        rows = self.con.execute(f"SELECT count(*) FROM {table}").fetchall()  # noqa: S608
        return int(rows[0][0])

    def alerts(self, since: datetime | None = None) -> pl.DataFrame:
        """Stored alerts in time order (optionally only those at or after ``since``)."""
        sql = 'SELECT * FROM alerts'
        params: list[object] = []
        if since is not None:
            sql += ' WHERE "@timestamp" >= ?'
            params.append(since)
        frame = self._frame(sql + ' ORDER BY "@timestamp", "alert.id"', params)
        if frame.height == 0:
            return pl.DataFrame(schema=ALERT_SCHEMA)
        return frame.select([pl.col(n).cast(t) for n, t in ALERT_SCHEMA.items()])

    def save_incidents(self, incidents: list[Incident]) -> None:
        """Replace the stored incidents and memberships with these snapshots."""
        now = datetime.now(UTC)
        rows = [(i.id, i.status, i.risk, i.title, i.first_time, i.last_time, i.size,
                 i.distinct_alerts, i.chain, list(i.tactics), list(i.detectors),
                 list(i.entities), i.assignee,
                 json.dumps([h.to_dict() for h in i.history], default=str), now,
                 SCHEMA_VERSION) for i in incidents]
        members = pl.DataFrame(
            {"incident_id": [i.id for i in incidents for _ in i.alert_ids],
             "alert_id": [a for i in incidents for a in i.alert_ids]},
            schema={"incident_id": pl.String, "alert_id": pl.String})
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute("DELETE FROM incidents")
            self.con.execute("DELETE FROM incident_alerts")
            if rows:
                self.con.executemany(
                    "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows)
            self.con.register("__mg_members", members.to_arrow())
            self.con.execute("INSERT INTO incident_alerts SELECT * FROM __mg_members")
            self.con.unregister("__mg_members")
        except duckdb.Error as exc:
            self.con.execute("ROLLBACK")
            raise StoreError(f"cannot store incidents: {exc}") from exc
        self.con.execute("COMMIT")

    def incidents(self) -> pl.DataFrame:
        """Stored incidents, highest risk first."""
        return self._frame("SELECT * FROM incidents ORDER BY risk DESC, last_time DESC, "
                           "incident_id")

    def incident_alerts(self, incident_id: str) -> pl.DataFrame:
        """The stored alerts of one incident, in time order."""
        return self._frame(
            'SELECT a.* FROM alerts a JOIN incident_alerts m ON a."alert.id" = m.alert_id '
            'WHERE m.incident_id = ? ORDER BY a."@timestamp"', [incident_id])

    def replay(self, correlator: EntityCorrelator, batch: int = 50_000) -> EntityCorrelator:
        """Feed every stored alert, in time order, to a fresh correlator."""
        frame = self.alerts()
        for start in range(0, frame.height, batch):
            correlator.add(frame.slice(start, batch))
        return correlator
