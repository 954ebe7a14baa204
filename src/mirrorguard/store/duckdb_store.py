"""DuckDB-backed store: append EventFrames in transactions, query with SQL, export Parquet.

Tables:

* ``events`` — one wide table; a column is added the first time a field appears. A type clash
  between batches widens the column to text instead of losing values.
* ``quarantine`` — every rejected record with file, member, line/offset, reason and raw bytes.
* ``ingest_manifest`` — one row per source: path, sha256, format, records offered/accepted/
  rejected. A source whose sha256 is recorded as ``complete`` is never ingested twice.

Each source is written in one transaction together with its manifest row, so a killed ingest
leaves no partial source behind and the next run simply does it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

from mirrorguard.errors import StoreError
from mirrorguard.schema.fields import SCHEMA_VERSION
from mirrorguard.store.types import duckdb_type, quote

_DDL = """
CREATE TABLE IF NOT EXISTS ingest_manifest (
    ingest_id VARCHAR PRIMARY KEY, path VARCHAR, member VARCHAR, sha256 VARCHAR,
    format VARCHAR, status VARCHAR, offered BIGINT, accepted BIGINT, rejected BIGINT,
    reason VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, schema_version INTEGER);
CREATE TABLE IF NOT EXISTS quarantine (
    ingest_id VARCHAR, file VARCHAR, member VARCHAR, line BIGINT, "offset" BIGINT,
    reason VARCHAR, raw BLOB, quarantined_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS events (
    "@timestamp" TIMESTAMPTZ, "event.id" VARCHAR, "event.dataset" VARCHAR);
CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
"""


_MANIFEST_COLUMNS = {
    "ingest_id", "path", "member", "sha256", "format", "status", "offered", "accepted",
    "rejected", "reason", "started_at", "finished_at", "schema_version",
}


class DuckDBStore:
    """The embedded store. Use as a context manager or call :meth:`close`."""

    def __init__(
        self, path: Path | str, *, read_only: bool = False, threads: int = 0,
        memory_limit: str | None = None,
    ) -> None:
        self.path = Path(path)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open store: {exc}", file=str(self.path)) from exc
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.con.execute("SET memory_limit = ?", [memory_limit])
        if not read_only:
            self.con.execute(_DDL)
            self.con.execute(
                "INSERT OR IGNORE INTO store_meta VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            )
        self._columns: dict[str, str] | None = None

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            self._columns = None
            raise
        self.con.execute("COMMIT")

    # -- events ---------------------------------------------------------------------------
    def event_columns(self) -> dict[str, str]:
        """Current ``events`` columns and their DuckDB types."""
        if self._columns is None:
            rows = self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'events' ORDER BY ordinal_position"
            ).fetchall()
            self._columns = {str(n): str(t) for n, t in rows}
        return self._columns

    def append_events(self, frame: pl.DataFrame) -> int:
        """Append a conformed EventFrame; returns rows written."""
        if frame.height == 0:
            return 0
        frame = self._fit_columns(frame)
        self._insert("events", frame)
        return frame.height

    def _insert(self, table: Literal["events", "quarantine"], frame: pl.DataFrame) -> None:
        """Insert a frame by column name (zero-copy Arrow string views into DuckDB)."""
        self.con.register("__mg_batch", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            sql = f"INSERT INTO {quote(table)} BY NAME SELECT * FROM __mg_batch"  # noqa: S608
            self.con.execute(sql)
        finally:
            self.con.unregister("__mg_batch")

    def _fit_columns(self, frame: pl.DataFrame) -> pl.DataFrame:
        frame = self._fold_case(frame)
        cols = self.event_columns()
        fixes: list[pl.Expr] = []
        for name, dtype in frame.schema.items():
            want = duckdb_type(dtype)
            have = cols.get(name)
            if have is None:
                self.con.execute(f"ALTER TABLE events ADD COLUMN {quote(name)} {want}")
                cols[name] = want
            elif have != want and not _compatible(have, want):
                fixes.append(self._widen(name, dtype, have))
        return frame.with_columns(fixes) if fixes else frame

    def _fold_case(self, frame: pl.DataFrame) -> pl.DataFrame:
        """DuckDB column names are case-insensitive: fold names that differ only by case.

        Real EVTX data carries both ``SourceProcessGuid`` and ``SourceProcessGUID``. A batch
        column takes the spelling already in the table (or the first spelling in the batch);
        two spellings within one batch are merged (first non-null), never dropped.
        """
        existing = {n.lower(): n for n in self.event_columns()}
        target: dict[str, list[str]] = {}
        for name in frame.columns:
            canon = existing.get(name.lower())
            if canon is None:
                canon = next((t for t in target if t.lower() == name.lower()), name)
            target.setdefault(canon, []).append(name)
        if all(len(v) == 1 and v[0] == k for k, v in target.items()):
            return frame
        exprs = []
        for canon, names in target.items():
            if len(names) == 1:
                exprs.append(pl.col(names[0]).alias(canon))
            else:
                merged = pl.coalesce([pl.col(n).cast(pl.String) for n in names])
                same = len({frame.schema[n] for n in names}) == 1
                exprs.append((pl.coalesce([pl.col(n) for n in names]) if same else merged)
                             .alias(canon))
        return frame.select(exprs)

    def _widen(self, name: str, dtype: pl.DataType, have: str) -> pl.Expr:
        """Resolve a type clash without losing values: both sides become text."""
        cols = self.event_columns()
        if have != "VARCHAR":
            self.con.execute(f"ALTER TABLE events ALTER {quote(name)} TYPE VARCHAR")
            cols[name] = "VARCHAR"
        if isinstance(dtype, pl.List):
            return pl.col(name).cast(pl.List(pl.String)).list.join(",")
        return pl.col(name).cast(pl.String)

    # -- quarantine and manifest --------------------------------------------------------------
    def quarantine(self, rejects: pl.DataFrame, ingest_id: str) -> int:
        """Keep rejected records with their reason."""
        if rejects.height == 0:
            return 0
        now = datetime.now(UTC)
        frame = rejects.with_columns(
            pl.lit(ingest_id).alias("ingest_id"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("quarantined_at"),
        )
        self._insert("quarantine", frame)
        return rejects.height

    def is_ingested(self, ingest_id: str) -> bool:
        """True when this source's content was ingested completely before."""
        row = self.con.execute(
            "SELECT 1 FROM ingest_manifest WHERE ingest_id = ? AND status = 'complete'",
            [ingest_id],
        ).fetchall()
        return bool(row)

    def record_manifest(self, **row: Any) -> None:
        """Insert or replace one manifest row (``ingest_id`` is the key)."""
        row.setdefault("schema_version", SCHEMA_VERSION)
        unknown = set(row) - _MANIFEST_COLUMNS
        if unknown:
            raise StoreError(f"unknown manifest columns: {sorted(unknown)}")
        names = sorted(row)
        sql = "INSERT OR REPLACE INTO ingest_manifest ({}) VALUES ({})".format(  # noqa: S608
            ", ".join(names), ", ".join("?" for _ in names)  # names checked against a fixed set
        )
        self.con.execute(sql, [row[n] for n in names])

    # -- reading --------------------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run SQL and return a Polars frame."""
        try:
            rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
            if rel is None:
                return pl.DataFrame()
            table = rel.to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def stats(self) -> dict[str, Any]:
        """Counts per dataset, quarantine reasons and manifest totals."""
        by_ds = self.query(
            'SELECT "event.dataset" AS dataset, count(*) AS events, '
            'min("@timestamp") AS first, max("@timestamp") AS last '
            "FROM events GROUP BY 1 ORDER BY 2 DESC"
        )
        reasons = self.query(
            "SELECT regexp_replace(reason, '[0-9]+', 'N', 'g') AS reason, count(*) AS records "
            "FROM quarantine GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
        )
        man = self.query(
            "SELECT status, count(*) AS sources, coalesce(sum(accepted), 0) AS accepted, "
            "coalesce(sum(rejected), 0) AS rejected FROM ingest_manifest GROUP BY 1"
        )
        return {
            "datasets": by_ds.to_dicts(),
            "quarantine": reasons.to_dicts(),
            "manifest": man.to_dicts(),
        }

    def export_parquet(self, out_dir: Path) -> int:
        """Write events as Parquet partitioned by dataset and date; returns rows written."""
        out_dir.mkdir(parents=True, exist_ok=True)
        n = self.con.execute("SELECT count(*) FROM events").fetchall()[0]
        select = (
            'SELECT *, "event.dataset" AS dataset, '
            "strftime(\"@timestamp\" AT TIME ZONE 'UTC', '%Y-%m-%d') AS date FROM events"
        )
        target = _sql_path(out_dir)
        opts = "FORMAT parquet, PARTITION_BY (dataset, date), OVERWRITE_OR_IGNORE true"
        self.con.execute(f"COPY ({select}) TO '{target}' ({opts})")
        return int(n[0]) if n else 0


def _compatible(have: str, want: str) -> bool:
    """Batch type ``want`` can be inserted into column type ``have`` without loss."""
    widening = {
        ("BIGINT", "INTEGER"), ("BIGINT", "SMALLINT"), ("INTEGER", "SMALLINT"),
        ("DOUBLE", "FLOAT"), ("DOUBLE", "INTEGER"), ("BIGINT", "UINTEGER"),
        ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"),
    }
    return (have, want) in widening or have.replace(" WITH TIME ZONE", "TZ") == want


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
