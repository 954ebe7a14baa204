"""Physical layout behind the logical ``events`` table: one DuckDB table per ``event.dataset``.

Why: DuckDB's cost of ``INSERT ... BY NAME`` plus COMMIT grows with the width of the *target
table*, not of the batch. A single table holding the union of every parser's fields (430
columns after the real EVTX samples) made every insert pay for every other dataset's columns:
200k rows of 30 text columns cost 3.5 us/row into a 30-column table and 27.6 us/row into a
430-column one. One table per dataset keeps each insert as wide as its own data, and
``events`` stays one relation for every reader: a view ``SELECT * FROM t1 UNION ALL BY NAME
SELECT * FROM t2 ...``. DuckDB binds views at query time, so a column added to a dataset table
later shows up through the view without recreating it; the view is recreated only when a
dataset table is added.

Table names: ``events__<slug>``; the slug is the dataset lower-cased, every run of characters
outside ``[a-z0-9]`` replaced by ``_``, trimmed to 40 characters (``unset`` for a missing
dataset, ``x`` when nothing is left). Different datasets can share a slug (``zeek.conn`` and
``zeek_conn``, or case variants, since DuckDB names are case-insensitive): the later one gets
``_`` plus the first 8 hex digits of sha256(dataset), and a counter if even that is taken. The
registry table ``event_tables(dataset, table_name, created_at)`` is the authority: a name is
checked against every relation in the catalog when it is given, and never changes afterwards.

Types: a column name has one type in every dataset table (the type the single wide table
would have had), so the view never asks DuckDB for a common supertype. DuckDB would find one
(``VARCHAR`` with ``BIGINT[]`` gives ``BIGINT[]``) and then fail at query time casting
``'http-alt'``; keeping one type per name makes the view exactly the old wide table.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

import duckdb

from mirrorguard.store.segments import Segments
from mirrorguard.store.types import quote

PREFIX = "events__"
CORE_COLUMNS: dict[str, str] = {
    "@timestamp": "TIMESTAMPTZ", "event.id": "VARCHAR", "event.dataset": "VARCHAR",
}
REGISTRY_DDL = (
    "CREATE TABLE IF NOT EXISTS event_tables "
    "(dataset VARCHAR, table_name VARCHAR PRIMARY KEY, created_at TIMESTAMPTZ)"
)
_SLUG_MAX = 40


def slug(dataset: str | None) -> str:
    """The readable part of a dataset's table name (not unique on its own)."""
    if dataset is None:
        return "unset"
    s = re.sub(r"[^a-z0-9]+", "_", dataset.lower())[:_SLUG_MAX].strip("_")
    return s or "x"


def table_name_for(dataset: str | None, taken: set[str]) -> str:
    """A table name for ``dataset`` that no relation in ``taken`` (lower-cased) has."""
    name = PREFIX + slug(dataset)
    if name not in taken:
        return name
    digest = hashlib.sha256(("\0" if dataset is None else dataset).encode()).hexdigest()[:8]
    name = f"{name}_{digest}"
    n = 2
    candidate = name
    while candidate in taken:
        candidate = f"{name}_{n}"
        n += 1
    return candidate


def relation_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """``'BASE TABLE'``, ``'VIEW'`` or None for a relation in the store's main schema."""
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_catalog = "
        "current_database() AND table_schema = 'main' AND lower(table_name) = lower(?)",
        [name],
    ).fetchall()
    return str(rows[0][0]) if rows else None


def view_sql(tables: list[str], extra: list[str] | None = None) -> str:
    """The ``events`` view over ``tables`` and ``extra`` SELECTs (the Parquet segments);
    the core columns alone (no rows) when there are no tables."""
    if not tables:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {quote(c)}" for c, t in CORE_COLUMNS.items())
        return f"CREATE OR REPLACE VIEW events AS SELECT {cols} WHERE false"
    branches = [f"SELECT * FROM {quote(t)}" for t in tables] + (extra or [])  # noqa: S608 (quoted names)
    return f"CREATE OR REPLACE VIEW events AS {' UNION ALL BY NAME '.join(branches)}"


class Partitions:
    """Registry and column caches of the per-dataset tables, and the DDL that changes them.

    Callers hold the transaction and call :meth:`refresh_view` when :attr:`changes` moved;
    :meth:`reset` drops the caches after a rollback, since DuckDB rolls the DDL back too.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection,
                 segments: Segments | None = None) -> None:
        self.con = con
        self.segments = segments
        self._tables: dict[str | None, str] | None = None
        self._cols: dict[str, dict[str, str]] | None = None
        self._merged: tuple[tuple[int, int], dict[str, str], dict[str, str]] | None = None
        self.changes = 0  # schema changes made through this object (tables, columns, types)

    def reset(self) -> None:
        self._tables = None
        self._cols = None
        self._merged = None

    def tables(self) -> dict[str | None, str]:
        """Dataset -> table name, in creation order (the view's branch order)."""
        if self._tables is None:
            rows = self.con.execute(
                "SELECT dataset, table_name FROM event_tables ORDER BY created_at, table_name"
            ).fetchall()
            self._tables = {None if d is None else str(d): str(t) for d, t in rows}
        return self._tables

    def columns(self) -> dict[str, dict[str, str]]:
        """Table name -> its columns and DuckDB types, read once and kept current by DDL here."""
        if self._cols is None:
            rows = self.con.execute(
                "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
                "JOIN event_tables r ON lower(c.table_name) = lower(r.table_name) "
                "WHERE c.table_catalog = current_database() AND c.table_schema = 'main' "
                "ORDER BY c.table_name, c.ordinal_position"
            ).fetchall()
            cols: dict[str, dict[str, str]] = {t: {} for t in self.tables().values()}
            lower = {t.lower(): t for t in cols}
            for table, name, dtype in rows:
                cols[lower[str(table).lower()]][str(name)] = str(dtype)
            self._cols = cols
        return self._cols

    def merged(self) -> dict[str, str]:
        """Every column of the logical ``events`` table with its one type.

        Kept until the next schema change (every DDL here moves :attr:`changes`); a store
        with wide Windows tables has ~1,000 entries, asked for several times per batch.
        """
        return self._merged_maps()[0]

    def spellings(self) -> dict[str, str]:
        """Lower-cased column name -> its spelling in the store (names are case-insensitive)."""
        return self._merged_maps()[1]

    def _merged_maps(self) -> tuple[dict[str, str], dict[str, str]]:
        key = (id(self._cols), self.changes)
        if self._merged is None or self._merged[0] != key:
            out: dict[str, str] = {}
            for cols in self.columns().values():
                for name, dtype in cols.items():
                    out.setdefault(name, dtype)
            lower = {n.lower(): n for n in out}
            self._merged = ((id(self._cols), self.changes), out, lower)
        return self._merged[1], self._merged[2]

    def table_for(self, dataset: str | None, columns: Mapping[str, str]) -> str:
        """The dataset's table; created and registered on first use with the core columns
        plus ``columns`` (one CREATE is ~15x cheaper than the same columns added one by one).

        A new table joins the ``events`` view at the caller's :meth:`refresh_view`, once per
        batch rather than once per table.
        """
        tables = self.tables()
        have = tables.get(dataset)
        if have is not None:
            return have
        merged = self.merged()
        cols = {c: merged.get(c, t) for c, t in CORE_COLUMNS.items()}
        cols.update({c: t for c, t in columns.items() if c not in cols})
        name = self.new_name(dataset)
        spec = ", ".join(f"{quote(c)} {t}" for c, t in cols.items())
        self.con.execute(f"CREATE TABLE {quote(name)} ({spec})")
        self.register(dataset, name)
        self.columns()[name] = cols
        self.changes += 1
        return name

    def new_name(self, dataset: str | None) -> str:
        """A collision-free name: checked against the registry and every relation there is."""
        rows = self.con.execute(
            "SELECT lower(table_name) FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = 'main'"
        ).fetchall()
        taken = {str(r[0]) for r in rows} | {t.lower() for t in self.tables().values()}
        return table_name_for(dataset, taken)

    def register(self, dataset: str | None, name: str) -> None:
        self.con.execute("INSERT INTO event_tables VALUES (?, ?, now())", [dataset, name])
        self.tables()[dataset] = name

    def add_columns(self, table: str, columns: Mapping[str, str]) -> None:
        """Add those of ``columns`` that ``table`` lacks."""
        have = self.columns()[table]
        for name, dtype in columns.items():
            if name not in have:
                self.con.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {dtype}")
                have[name] = dtype
                self.changes += 1

    def widen_to_text(self, name: str) -> None:
        """Make ``name`` VARCHAR in every dataset table that has it with another type."""
        for table, cols in self.columns().items():
            have = cols.get(name)
            if have is not None and have != "VARCHAR":
                self.con.execute(f"ALTER TABLE {quote(table)} ALTER {quote(name)} TYPE VARCHAR")
                cols[name] = "VARCHAR"
                self.changes += 1

    def refresh_view(self) -> None:
        extra = self.segments.branches(self.columns()) if self.segments is not None else None
        self.con.execute(view_sql(list(self.tables().values()), extra))
