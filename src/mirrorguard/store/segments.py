"""Parquet segment files beside the DuckDB file: the cheap write path for large batches.

Why: DuckDB's own ``INSERT`` of a large Arrow batch costs about as much CPU as parsing it
(3-5 s per million 32-column Zeek records on this 2-core machine, against ~1.1 s for writing the
same rows as a snappy Parquet file), because the insert re-encodes every value into DuckDB's
row groups and compresses them. Writing large batches as Parquet and registering them in the
store keeps one relation for readers (``events``) while the write costs what Parquet costs.
This is the layout lakehouse formats use (Iceberg, Delta, DuckLake): immutable data files, and a
catalog that says which files are live. Here the catalog is a table in the DuckDB file itself, so
registering a file commits or rolls back together with the rest of the source's writes.

Layout: ``<store file name>.segments/<dataset table>/<ingest id prefix>-<uuid>.parquet``, one
file per written batch. ``event_segments`` lists each live file with its dataset table, ingest
id, rows and columns; the ``events`` view reads each dataset's files with ``read_parquet``,
every column cast to the type the dataset table (the schema authority) gives it. Paths in the
view are relative to the segments directory, which the store sets as DuckDB's
``file_search_path`` whenever it opens the file, so a store directory can be moved as a whole.
(A DuckDB client opening the file directly must ``SET file_search_path`` to that directory.)

Crash safety: a file is written and fsynced before its registry row is inserted; the row
commits with the source's transaction. Files written in a transaction that rolls back are
deleted at the rollback; files whose rows a committed transaction deleted are removed after the
commit. A crash between those steps leaves files nobody lists: opening the store for writing
deletes every ``*.parquet`` under the segments directory that the registry does not list.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from mirrorguard.store.types import quote

REGISTRY_DDL = (
    "CREATE TABLE IF NOT EXISTS event_segments (file VARCHAR PRIMARY KEY, table_name VARCHAR, "
    "ingest_id VARCHAR, rows BIGINT, columns VARCHAR[], created_at TIMESTAMPTZ)"
)
TARGET_ROWS = 250_000  # a segment is written once a table has this many rows pending
COMPRESSION: Final = "snappy"  # read by every Parquet reader; zstd costs ~50 % more CPU to write


def segments_root(store_path: Path) -> Path | None:
    """Where a store file keeps its segments; None for an in-memory store."""
    if str(store_path) in ("", ":memory:"):
        return None
    return store_path.with_name(store_path.name + ".segments")


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


class Segments:
    """Writes, lists and removes the segment files of one store connection.

    The caller (the store) holds the transaction: it calls :meth:`committed` after each COMMIT
    and :meth:`rolled_back` after each ROLLBACK.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, root: Path) -> None:
        self.con = con
        self.root = root
        self._written: list[Path] = []  # files written in the open transaction
        self._doomed: list[Path] = []  # files whose rows the open transaction deleted

    def configure(self) -> None:
        """Let the view's relative paths resolve (on every open, read-only ones too)."""
        self.con.execute(f"SET file_search_path = {sql_text(str(self.root))}")
        # Segment files are immutable (unique names, never rewritten), so footers read once
        # can be kept: a query then does not re-read every file's metadata.
        self.con.execute("SET parquet_metadata_cache = true")

    def write(self, table: str, ingest_id: str | None, frame: pl.DataFrame) -> int:
        """Write ``frame`` as one segment of ``table`` and register it (in the caller's tx)."""
        folder = self.root / table
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            _fsync_dir(folder.parent)
        prefix = (ingest_id or "none")[:16]
        rel = f"{table}/{prefix}-{uuid.uuid4().hex}.parquet"
        path = self.root / rel
        self._written.append(path)
        frame = _encodable(frame)
        frame.write_parquet(path, compression=COMPRESSION, statistics=True)
        _fsync_file(path)
        self.con.execute(
            "INSERT INTO event_segments VALUES (?, ?, ?, ?, ?, now())",
            [rel, table, ingest_id, frame.height, frame.columns],
        )
        return frame.height

    def discard(self, ingest_id: str) -> int:
        """Unregister one ingest's segments (files go after the commit); returns their rows."""
        rows = self.con.execute(
            "DELETE FROM event_segments WHERE ingest_id = ? RETURNING file, rows", [ingest_id]
        ).fetchall()
        self._doomed.extend(self.root / str(f) for f, _ in rows)
        return sum(int(n) for _, n in rows)

    def unregister(self, files: list[str]) -> None:
        """Drop the registry rows of ``files``; the files go after the commit."""
        self.con.execute("DELETE FROM event_segments WHERE list_contains(?, file)", [files])
        self._doomed.extend(self.root / f for f in files)

    def committed(self) -> None:
        self._written.clear()
        doomed, self._doomed = self._doomed, []
        for path in doomed:
            path.unlink(missing_ok=True)

    def rolled_back(self) -> None:
        self._doomed.clear()
        written, self._written = self._written, []
        for path in written:
            path.unlink(missing_ok=True)

    def sweep(self) -> int:
        """Delete segment files the registry does not list (a crash's leftovers)."""
        if not self.root.is_dir():
            return 0
        live = {str(r[0]) for r in self.con.execute("SELECT file FROM event_segments").fetchall()}
        removed = 0
        for path in self.root.glob("*/*.parquet"):
            if path.relative_to(self.root).as_posix() not in live:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def by_table(self) -> dict[str, list[tuple[str, list[str]]]]:
        """Dataset table -> its live segments ``(relative file, columns)``, oldest first."""
        rows = self.con.execute(
            "SELECT table_name, file, columns FROM event_segments ORDER BY created_at, file"
        ).fetchall()
        out: dict[str, list[tuple[str, list[str]]]] = {}
        for table, file, columns in rows:
            out.setdefault(str(table), []).append((str(file), [str(c) for c in columns]))
        return out

    def branches(self, types: dict[str, dict[str, str]]) -> list[str]:
        """One ``SELECT`` per dataset table with segments, for the ``events`` view.

        Each column is cast to the dataset table's type for it (a no-op DuckDB removes when the
        file already has that type; a real conversion after a column was widened to text).
        """
        out = []
        for table, segs in self.by_table().items():
            cols: dict[str, None] = {}
            for _, names in segs:
                cols.update(dict.fromkeys(names))
            table_types = types.get(table, {})
            select = ", ".join(
                f"CAST({quote(c)} AS {table_types[c]}) AS {quote(c)}" if c in table_types
                else quote(c) for c in cols
            )
            files = ", ".join(sql_text(f) for f, _ in segs)
            out.append(f"SELECT {select} FROM read_parquet([{files}], union_by_name = true)")  # noqa: S608
        return out


class Pending:
    """Rows waiting to become segments, per (dataset table, ingest id), within a transaction.

    Parsers hand over batches of ~16 MiB of input (~40k Zeek records); a file per batch would
    make many small files, and every query reads each file's footer. Parts are gathered until
    :data:`TARGET_ROWS` and written as one file; what is left at commit time is written too
    when it is large enough, and otherwise goes into the DuckDB table (small sources stay in
    DuckDB, where small inserts are cheap). Memory stays bounded by ``TARGET_ROWS`` per table.
    """

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str | None], list[pl.DataFrame]] = {}
        self._rows: dict[tuple[str, str | None], int] = {}

    def add(self, table: str, ingest_id: str | None,
            part: pl.DataFrame) -> tuple[str, str | None, pl.DataFrame] | None:
        """Keep ``part``; returns a full segment's rows once the key reaches the target."""
        key = (table, ingest_id)
        self._parts.setdefault(key, []).append(part)
        self._rows[key] = self._rows.get(key, 0) + part.height
        if self._rows[key] < TARGET_ROWS:
            return None
        return (table, ingest_id, self._take(key))

    def drain(self) -> list[tuple[str, str | None, pl.DataFrame]]:
        """Every pending key's rows (before a commit or a read)."""
        return [(t, i, self._take((t, i))) for t, i in list(self._parts)]

    def clear(self) -> None:
        self._parts.clear()
        self._rows.clear()

    def __bool__(self) -> bool:
        return bool(self._parts)

    def _take(self, key: tuple[str, str | None]) -> pl.DataFrame:
        parts = self._parts.pop(key)
        self._rows.pop(key)
        if len(parts) == 1:
            return parts[0]
        same = all(p.schema == parts[0].schema for p in parts)
        return pl.concat(parts, how="vertical" if same else "diagonal_relaxed", rechunk=False)


def _encodable(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as written: all-null columns left out, constant text columns as Enum.

    A batch gathered from several parsers' parts carries every part's columns; a Windows
    channel's frame has ~430 columns of which 60-180 hold values. A column left out of a file
    reads as NULL through the view, and writing only the valued ones halves the write time.

    Per-batch constants (dataset, ingest id, file path, ECS category words) are a third of a
    Zeek batch's columns; Polars hashes every value of a text column to build its Parquet
    dictionary (~10 ms per 250k rows each), while an Enum column already is that dictionary
    (~2 ms). Readers see plain text either way: an Enum is written as a dictionary-encoded
    string column.
    """
    fixes: list[pl.Series] = []
    empty = [c.name for c in frame.get_columns() if c.len() and c.null_count() == c.len()]
    if empty and len(empty) < frame.width:
        frame = frame.drop(empty)
    for col in frame.get_columns():
        if col.dtype == pl.Null:
            fixes.append(col.cast(pl.String))
        elif col.dtype == pl.String and col.len() and not col.null_count():
            first = col[0]
            if (col == first).all():
                fixes.append(pl.repeat(first, col.len(), dtype=pl.Enum([first]),
                                       eager=True).alias(col.name))
    return frame.with_columns(fixes) if fixes else frame


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse fsync on directories
        _fsync_file(path)
