"""Merging small Parquet segments, so the number of files stays bounded as ingests add up.

Every query of ``events`` scans each live segment file, and the view lists them all; a store fed
many modest sources (hourly Zeek logs of 20-100k records, one EVTX file per host) would gather
thousands of files. Compaction rewrites runs of small segments of one dataset table into files
of up to :data:`~mirrorguard.store.segments.TARGET_ROWS` rows.

Only segments of complete ingests are merged: ``discard_ingest`` finds a killed run's rows by
their ingest id, which a merged file (holding several ingests, registered with no ingest id)
no longer has. Columns are read with the same casts the view applies, so a merged file holds
the values readers saw. The new file is registered and the old rows deleted in one transaction;
the old files go after the commit (a crash in between leaves files the next write-open sweeps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import polars as pl

from mirrorguard.store.segments import TARGET_ROWS, Segments, sql_text
from mirrorguard.store.types import quote

AUTO_FILES = 32  # a dataset table with this many small segments is compacted after an ingest


@dataclass
class CompactReport:
    """What a compaction did, per dataset table: files merged into how many."""

    merged: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (old, new)

    @property
    def files_before(self) -> int:
        return sum(old for old, _ in self.merged.values())

    @property
    def files_after(self) -> int:
        return sum(new for _, new in self.merged.values())


def small_segments(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, int]]]:
    """Dataset table -> its small segments of complete ingests ``(file, rows)``, oldest first."""
    rows = con.execute(
        "SELECT s.table_name, s.file, s.rows FROM event_segments s "
        "LEFT JOIN ingest_manifest m ON m.ingest_id = s.ingest_id "
        "WHERE s.rows < ? AND (s.ingest_id IS NULL OR m.status = 'complete') "
        "ORDER BY s.created_at, s.file",
        [TARGET_ROWS],
    ).fetchall()
    out: dict[str, list[tuple[str, int]]] = {}
    for table, file, n in rows:
        out.setdefault(str(table), []).append((str(file), int(n)))
    return out


def runs(segments: list[tuple[str, int]]) -> list[list[str]]:
    """Greedy groups of consecutive files whose rows fit one target-sized file (2+ files)."""
    groups: list[list[str]] = []
    current: list[str] = []
    rows = 0
    for file, n in segments:
        if current and rows + n > TARGET_ROWS:
            groups.append(current)
            current, rows = [], 0
        current.append(file)
        rows += n
    groups.append(current)
    return [g for g in groups if len(g) > 1]


def merge_run(con: duckdb.DuckDBPyConnection, segs: Segments, table: str,
              files: list[str], types: dict[str, str]) -> None:
    """Rewrite ``files`` of ``table`` as one segment (inside the caller's transaction)."""
    columns = con.execute(
        "SELECT DISTINCT unnest(columns) FROM event_segments WHERE list_contains(?, file)",
        [files],
    ).fetchall()
    names = [str(c[0]) for c in columns]
    select = ", ".join(
        f"CAST({quote(c)} AS {types[c]}) AS {quote(c)}" if c in types else quote(c)
        for c in names
    )
    listed = ", ".join(sql_text(f) for f in files)
    table_rows = con.sql(
        f"SELECT {select} FROM read_parquet([{listed}], union_by_name = true)"  # noqa: S608
    ).to_arrow_table()
    frame = pl.from_arrow(table_rows)
    assert isinstance(frame, pl.DataFrame)  # a Table gives a frame
    segs.write(table, None, frame)
    segs.unregister(files)
