"""``mirrorguard query``, ``stats`` and ``export`` read what the store holds; ``compact``
merges its small Parquet segments."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import typer
from rich.table import Table

from mirrorguard.interfaces.cli.common import (
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    build_settings,
    console,
    emit_json,
    handle_errors,
    out,
)
from mirrorguard.store import DuckDBStore


def _table(df: pl.DataFrame, limit: int = 200) -> Table:
    table = Table(*df.columns)
    for row in df.head(limit).iter_rows():
        table.add_row(*("" if v is None else str(v)[:80] for v in row))
    return table


def query(
    sql: str = typer.Argument(..., help='SQL over tables events, quarantine, ingest_manifest'),
    config: Path | None = ConfigOpt,
    store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run read-only SQL against the store (quote field names: "source.ip")."""
    with handle_errors(as_json):
        settings = build_settings(config, store)
        with DuckDBStore.from_settings(settings.store, read_only=True) as st:
            df = st.query(sql)
    if as_json:
        emit_json(df.to_dicts())
    else:
        out.print(_table(df))
        if df.height > 200:
            console.print(f"({df.height:,} rows; first 200 shown; use --json for all)")


def stats(
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt
) -> None:
    """Events per dataset, quarantine reasons and ingest totals."""
    with handle_errors(as_json):
        settings = build_settings(config, store)
        with DuckDBStore.from_settings(settings.store, read_only=True) as st:
            data = st.stats()
    if as_json:
        emit_json(data)
        return
    for name, rows in data.items():
        out.print(f"[bold]{name}[/]")
        out.print(_table(pl.DataFrame(rows)) if rows else "  (none)")


def export(
    parquet: Path = typer.Option(..., "--parquet", help="output directory"),
    config: Path | None = ConfigOpt,
    store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Export events as a Parquet dataset partitioned by dataset and date."""
    with handle_errors(as_json):
        settings = build_settings(config, store)
        with DuckDBStore.from_settings(settings.store, read_only=True) as st:
            n = st.export_parquet(parquet)
    if as_json:
        emit_json({"rows": n, "path": str(parquet)})
    else:
        out.print(f"exported {n:,} events to {parquet}/dataset=…/date=…")


def compact(
    config: Path | None = ConfigOpt,
    store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Merge small Parquet segments of finished ingests into files of up to 250k rows.

    Ingest does this by itself once a dataset has 32 small segments; run it by hand after
    many small ingests, or before copying a store elsewhere.
    """
    with handle_errors(as_json):
        settings = build_settings(config, store)
        with DuckDBStore.from_settings(settings.store) as st:
            report = st.compact()
    data = {"files_before": report.files_before, "files_after": report.files_after,
            "tables": {t: {"files_before": a, "files_after": b}
                       for t, (a, b) in report.merged.items()}}
    if as_json:
        emit_json(data)
    elif not report.merged:
        out.print("nothing to compact")
    else:
        for table, (a, b) in report.merged.items():
            out.print(f"{table}: {a} segments merged into {b}")
