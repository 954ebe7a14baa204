"""DuckDB-backed store: append EventFrames in transactions, query with SQL, export Parquet.

Tables:

* ``events`` — a VIEW over one table per ``event.dataset`` (``events__<slug>``, registered in
  ``event_tables``; see :mod:`mirrorguard.store.partitions` for why and for the naming). A
  column is added to a dataset's table the first time a field appears there; a column name has
  one type across the store, and a type clash widens it to text instead of losing values.
* ``quarantine`` — every rejected record with file, member, line/offset, reason and raw bytes.
* ``event_segments`` — the Parquet files holding large batches (:mod:`.segments`), read
  through the same ``events`` view.
* ``ingest_manifest`` — one row per source: path, sha256, format, records offered/accepted/
  rejected. A source whose sha256 is recorded as ``complete`` is never ingested twice.

Each source is written in one transaction together with its manifest row (spanning every
dataset table it writes, and any table it creates), so a killed ingest leaves no partial source
behind and the next run simply does it again. A store written with the old single wide
``events`` table is migrated when first opened for writing (:mod:`mirrorguard.store.migrate`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from mirrorguard.errors import StoreError
from mirrorguard.schema.fields import SCHEMA_VERSION
from mirrorguard.store.compact import CompactReport, merge_run, runs, small_segments
from mirrorguard.store.migrate import ensure_layout
from mirrorguard.store.partitions import CORE_COLUMNS, REGISTRY_DDL, Partitions
from mirrorguard.store.segments import REGISTRY_DDL as SEGMENTS_DDL
from mirrorguard.store.segments import Pending, Segments, segments_root
from mirrorguard.store.types import duckdb_type, quote

if TYPE_CHECKING:
    from mirrorguard.config.settings import StoreSettings

_DDL = """
CREATE TABLE IF NOT EXISTS ingest_manifest (
    ingest_id VARCHAR PRIMARY KEY, path VARCHAR, member VARCHAR, sha256 VARCHAR,
    format VARCHAR, status VARCHAR, offered BIGINT, accepted BIGINT, rejected BIGINT,
    reason VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, schema_version INTEGER);
CREATE TABLE IF NOT EXISTS quarantine (
    ingest_id VARCHAR, file VARCHAR, member VARCHAR, line BIGINT, "offset" BIGINT,
    reason VARCHAR, raw BLOB, quarantined_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
"""


DEFAULT_SEGMENT_ROWS = 10_000  # below it, a DuckDB insert; see [store] segment_min_rows

_MANIFEST_COLUMNS = {
    "ingest_id", "path", "member", "sha256", "format", "status", "offered", "accepted",
    "rejected", "reason", "started_at", "finished_at", "schema_version",
}


class DuckDBStore:
    """The embedded store. Use as a context manager or call :meth:`close`."""

    def __init__(
        self, path: Path | str, *, read_only: bool = False, threads: int = 0,
        memory_limit: str | None = None, segment_min_rows: int = DEFAULT_SEGMENT_ROWS,
    ) -> None:
        self.path = Path(path)
        self.segment_min_rows = segment_min_rows
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open store: {exc}", file=str(self.path)) from exc
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.con.execute("SET memory_limit = ?", [memory_limit])
        root = segments_root(self.path)
        self._segments = Segments(self.con, root) if root is not None else None
        if self._segments is not None:
            self._segments.configure()
        self._parts = Partitions(self.con, self._segments)
        self._pending = Pending()
        self._in_tx = False
        self._columns: dict[str, str] | None = None
        if not read_only:
            try:
                self._prepare()
            except BaseException as exc:
                self.con.close()
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"cannot prepare store: {exc}", file=str(self.path)) from exc
                raise

    def _prepare(self) -> None:
        """Create the tables and bring ``events`` to the partitioned layout, atomically."""
        with self.transaction():
            self.con.execute(_DDL)
            self.con.execute(REGISTRY_DDL)
            self.con.execute(SEGMENTS_DDL)
            self.con.execute(
                "INSERT OR IGNORE INTO store_meta VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            )
            ensure_layout(self.con, self._parts)
            if self._segments is not None:
                self._segments.sweep()

    @classmethod
    def from_settings(cls, settings: StoreSettings, *, read_only: bool = False) -> DuckDBStore:
        """The store a configuration names, with its thread count and memory limit applied."""
        return cls(settings.path, read_only=read_only, threads=settings.threads,
                   memory_limit=settings.memory_limit,
                   segment_min_rows=settings.segment_min_rows)

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (DDL included)."""
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield
            self._flush_pending()
        except BaseException:
            self._in_tx = False
            self.con.execute("ROLLBACK")
            self._rolled_back()
            raise
        self._in_tx = False
        self._commit()

    def checkpoint(self) -> None:
        """Inside :meth:`transaction`: commit what is written so far and carry on in a new one.

        DuckDB keeps a transaction's appended rows in memory until it commits; a long source
        commits in steps to keep memory bounded (see ``ingest.commit_records``).
        """
        if not self._in_tx:
            raise StoreError("checkpoint() outside a transaction")
        self._flush_pending()  # a failure here rolls back through the caller's transaction()
        try:
            self._commit()
        except BaseException:
            self._in_tx = False
            raise
        self.con.execute("BEGIN TRANSACTION")

    def _commit(self) -> None:
        try:
            self.con.execute("COMMIT")
        except BaseException:
            self._rolled_back()  # a failed COMMIT rolls back, DDL included
            raise
        if self._segments is not None:
            self._segments.committed()

    def _rolled_back(self) -> None:
        self._pending.clear()
        self._forget_schema()
        if self._segments is not None:
            self._segments.rolled_back()

    def discard_ingest(self, ingest_id: str) -> int:
        """Delete every event and quarantined record of one ingest (a killed run's partial rows)."""
        removed = 0
        with self._atomic():
            self._flush_pending()
            for table, cols in self._parts.columns().items():
                if "mirrorguard.ingest_id" not in cols:
                    continue
                rows = self.con.execute(
                    f'DELETE FROM {quote(table)} WHERE "mirrorguard.ingest_id" = ?',  # noqa: S608
                    [ingest_id]).fetchall()
                removed += int(rows[0][0]) if rows else 0
            self.con.execute("DELETE FROM quarantine WHERE ingest_id = ?", [ingest_id])
            if self._segments is not None:
                seg_rows = self._segments.discard(ingest_id)
                if seg_rows:
                    removed += seg_rows
                    self._parts.refresh_view()
        return removed

    def manifest_status(self, ingest_id: str) -> str | None:
        """The manifest status of an ingest (``complete``, ``partial``, ``failed``) or ``None``."""
        rows = self.con.execute("SELECT status FROM ingest_manifest WHERE ingest_id = ?",
                                [ingest_id]).fetchall()
        return str(rows[0][0]) if rows else None

    def discard_partial(self, ingest_id: str) -> int:
        """Delete the committed steps of an ingest left ``partial`` (killed or failed mid-way)."""
        if self.manifest_status(ingest_id) != "partial":
            return 0
        return self.discard_ingest(ingest_id)

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """Join the caller's :meth:`transaction`, or run in one of our own.

        Only transactions opened through :meth:`transaction` are seen: a BEGIN sent on
        ``self.con`` directly would make ours fail (and DuckDB then aborts the caller's).
        """
        if self._in_tx:
            yield
            return
        with self.transaction():
            yield

    def _forget_schema(self) -> None:
        self._columns = None
        self._parts.reset()

    # -- events ---------------------------------------------------------------------------
    def event_columns(self) -> dict[str, str]:
        """Current columns of the logical ``events`` relation and their DuckDB types.

        ``DESCRIBE`` binds the view now; ``information_schema`` would show the columns the
        view had when this connection last bound it.
        """
        self._flush_pending()
        if self._columns is None:
            rows = self.con.execute("DESCRIBE events").fetchall()
            self._columns = {str(r[0]): str(r[1]) for r in rows}
        return self._columns

    def event_tables(self) -> dict[str | None, str]:
        """``event.dataset`` -> the physical table holding that dataset's events."""
        return dict(self._parts.tables())

    def append_events(self, frame: pl.DataFrame) -> int:
        """Append a conformed EventFrame to its datasets' tables; returns rows written."""
        if frame.height == 0:
            return 0
        frame = self._fold_case(frame)
        with self._atomic():
            before = self._parts.changes
            for dataset, raw_part in _split_by_dataset(frame):
                table, part = self._fit_columns(dataset, raw_part)
                if not self._to_segment(table, part):
                    self._insert(table, part)
            self._refresh_view(before)
        return frame.height

    def _refresh_view(self, changes_before: int) -> None:
        if self._parts.changes != changes_before:
            # New tables and segment files must join the view. New columns would show up
            # anyway (reads rebind the view), but recreating it keeps the catalog's copy of
            # its columns (what information_schema and outside tools show) current too.
            self._columns = None
            self._parts.refresh_view()

    def _to_segment(self, table: str, part: pl.DataFrame) -> bool:
        """Queue a single-ingest part for a Parquet segment (see :mod:`.segments`)."""
        if self._segments is None or not self.segment_min_rows:
            return False
        ingest_id: str | None = None
        if "mirrorguard.ingest_id" in part.columns:
            ids = part["mirrorguard.ingest_id"]
            if ids.n_unique() != 1:
                return False  # discard_ingest finds segments by their one ingest id
            ingest_id = ids[0]
        full = self._pending.add(table, ingest_id, part)
        if full is not None:
            self._segments.write(*full)
            self._parts.changes += 1  # the view lists the new file
        return True

    def _flush_pending(self) -> None:
        """Write what waits for a segment: a segment if large enough, else a table insert."""
        if not self._pending or self._segments is None:
            return
        before = self._parts.changes
        with self._atomic():
            for table, ingest_id, frame in self._pending.drain():
                if frame.height >= self.segment_min_rows:
                    self._segments.write(table, ingest_id, frame)
                    self._parts.changes += 1
                else:
                    self._insert(table, frame)
            self._refresh_view(before)

    def _insert(self, table: str, frame: pl.DataFrame) -> None:
        """Insert a frame by column name (zero-copy Arrow string views into DuckDB)."""
        self.con.register("__mg_batch", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            sql = f"INSERT INTO {quote(table)} BY NAME SELECT * FROM __mg_batch"  # noqa: S608
            self.con.execute(sql)
        finally:
            self.con.unregister("__mg_batch")

    def _fit_columns(self, dataset: str | None, frame: pl.DataFrame) -> tuple[str, pl.DataFrame]:
        """The dataset's table, holding every column of ``frame`` (created or added).

        A column name keeps one type across the store: a batch type that does not fit the
        existing one widens the column to text everywhere (see :meth:`_widen`).
        """
        merged = self._parts.merged()
        fixes: list[pl.Expr] = []
        types: dict[str, str] = {}
        for name, dtype in frame.schema.items():
            want = duckdb_type(dtype)
            have = merged.get(name)
            if have is not None and have != want and not _compatible(have, want):
                fixes.append(self._widen(name, dtype))
                have = "VARCHAR"
            types[name] = have or want
        table = self._parts.table_for(dataset, types)
        self._parts.add_columns(table, types)
        return table, frame.with_columns(fixes) if fixes else frame

    def _fold_case(self, frame: pl.DataFrame) -> pl.DataFrame:
        """DuckDB column names are case-insensitive: fold names that differ only by case.

        Real EVTX data carries both ``SourceProcessGuid`` and ``SourceProcessGUID``. A batch
        column takes the spelling already in the store (every dataset table uses that one) or
        the first spelling in the batch; two spellings within one batch are merged (first
        non-null), never dropped.
        """
        existing = self._parts.spellings()
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

    def _widen(self, name: str, dtype: pl.DataType) -> pl.Expr:
        """Resolve a type clash without losing values: both sides become text.

        The column turns VARCHAR in every dataset table that has it, so the view keeps one type
        per name.
        """
        self._parts.widen_to_text(name)
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
        return self.manifest_status(ingest_id) == "complete"

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
        self._flush_pending()
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

    def compact(self, min_files: int = 2) -> CompactReport:
        """Merge small segments of complete ingests (see :mod:`.compact`) in one transaction,
        for each dataset table holding at least ``min_files`` of them."""
        report = CompactReport()
        if self._segments is None:
            return report
        with self._atomic():
            self._flush_pending()
            types = self._parts.columns()
            for table, small in small_segments(self.con).items():
                if len(small) < min_files:
                    continue
                groups = runs(small)
                for files in groups:
                    merge_run(self.con, self._segments, table, files, types.get(table, {}))
                if groups:
                    merged = sum(len(g) for g in groups)
                    report.merged[table] = (merged, len(groups))
            if report.merged:
                self._parts.refresh_view()
                self._columns = None
        return report

    def export_parquet(self, out_dir: Path) -> int:
        """Write events as Parquet partitioned by dataset and date; returns rows written."""
        out_dir.mkdir(parents=True, exist_ok=True)
        self._flush_pending()
        n = self.con.execute("SELECT count(*) FROM events").fetchall()[0]
        select = (
            'SELECT *, "event.dataset" AS dataset, '
            "strftime(\"@timestamp\" AT TIME ZONE 'UTC', '%Y-%m-%d') AS date FROM events"
        )
        target = _sql_path(out_dir)
        opts = "FORMAT parquet, PARTITION_BY (dataset, date), OVERWRITE_OR_IGNORE true"
        self.con.execute(f"COPY ({select}) TO '{target}' ({opts})")
        return int(n[0]) if n else 0


def _split_by_dataset(frame: pl.DataFrame) -> list[tuple[str | None, pl.DataFrame]]:
    """The frame's rows per ``event.dataset``, each part without other datasets' columns.

    A column with no value in a part but values in another part belongs to that other
    dataset: dropping it keeps each table as narrow as its own data. A column with no value
    anywhere in the batch is kept, as a single-dataset batch always was.
    """
    if "event.dataset" not in frame.columns:
        return [(None, frame)]
    column = frame["event.dataset"]
    if column.n_unique() == 1:  # the usual batch: no copy
        key = column[0]
        return [(None if key is None else str(key), frame)]
    parts = frame.partition_by("event.dataset", as_dict=True, maintain_order=True)
    valued = {c for c in frame.columns if frame[c].null_count() < frame.height}
    out: list[tuple[str | None, pl.DataFrame]] = []
    for (key, *_), part in parts.items():
        keep = [c for c in part.columns if c in CORE_COLUMNS or c not in valued
                or part[c].null_count() < part.height]
        out.append((None if key is None else str(key), part.select(keep)))
    return out


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
