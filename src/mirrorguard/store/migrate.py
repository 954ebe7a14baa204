"""Bring a store file to the partitioned ``events`` layout when it is opened for writing.

Stores written before the split hold one wide TABLE named ``events``. Opening such a store
moves its rows into one table per dataset (only the columns that dataset has values in, so the
new tables are narrow), drops the wide table and creates the ``events`` view. The caller runs
this inside one transaction: a migration that dies half-way leaves the old table untouched.
"""

from __future__ import annotations

import duckdb

from mirrorguard.store.partitions import CORE_COLUMNS, Partitions, relation_kind
from mirrorguard.store.types import quote


def ensure_layout(con: duckdb.DuckDBPyConnection, parts: Partitions) -> str:
    """Make ``events`` the view over the dataset tables; returns what was done.

    ``'migrated'`` (an old wide table was split), ``'created'`` (no ``events`` relation yet,
    e.g. a new store) or ``'current'``.
    """
    kind = relation_kind(con, "events")
    if kind == "VIEW":
        return "current"
    if kind == "BASE TABLE":
        migrate_wide_table(con, parts)
        return "migrated"
    parts.refresh_view()
    return "created"


def migrate_wide_table(con: duckdb.DuckDBPyConnection, parts: Partitions) -> None:
    """Split the old wide ``events`` table into per-dataset tables and replace it by the view.

    One scan counts the non-null values of every column per dataset; each dataset's table is
    then created with ``CREATE TABLE ... AS SELECT`` of the core columns plus the columns it
    has values in (types kept as they were).
    """
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = "
        "current_database() AND table_schema = 'main' AND table_name = 'events' "
        "ORDER BY ordinal_position"
    ).fetchall()
    cols = [str(r[0]) for r in rows]
    has_dataset = "event.dataset" in cols
    key = '"event.dataset"' if has_dataset else "CAST(NULL AS VARCHAR)"
    counts = ", ".join(f"count({quote(c)})" for c in cols)
    per_ds = con.execute(
        f"SELECT {key}, {counts} FROM events GROUP BY 1 ORDER BY 1 NULLS LAST"  # noqa: S608
    ).fetchall()
    for row in per_ds:
        dataset = None if row[0] is None else str(row[0])
        keep = [c for c, n in zip(cols, row[1:], strict=True) if n or c in CORE_COLUMNS]
        name = parts.new_name(dataset)
        where = '"event.dataset" IS NOT DISTINCT FROM ?' if has_dataset else "true"
        select = ", ".join(quote(c) for c in keep)
        sql = f"CREATE TABLE {quote(name)} AS SELECT {select} FROM events WHERE {where}"  # noqa: S608
        con.execute(sql, [dataset] if has_dataset else None)
        parts.register(dataset, name)
    con.execute("DROP TABLE events")
    parts.reset()
    parts.refresh_view()
