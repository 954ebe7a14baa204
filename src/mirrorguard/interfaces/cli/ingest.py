"""``mirrorguard ingest PATH…``: walk files and directories, detect formats, store events."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mirrorguard.engine.ingest import Ingestor, IngestSummary
from mirrorguard.engine.recording import recorded_bus
from mirrorguard.ingest.registry import parser_names
from mirrorguard.interfaces.cli.common import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_NOTHING,
    EXIT_OK,
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


def ingest(
    paths: list[Path] = typer.Argument(..., help="files or directories (gzip/zip/tar too)"),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help=f"force a format: {', '.join(parser_names())}"
    ),
    keep_original: bool = typer.Option(False, "--keep-original", help="keep event.original"),
    config: Path | None = ConfigOpt,
    store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ingest logs into the store.

    Exit 0 all clean, 1 records quarantined or sources failed, 2 error, 3 nothing to ingest.
    """
    with handle_errors(as_json):
        settings = build_settings(config, store)
        if keep_original:
            settings = settings.with_overrides(ingest={"keep_original": True})
        with DuckDBStore.from_settings(settings.store) as st, \
                recorded_bus(settings, st) as bus:
            summary = _run(Ingestor(settings, st, force_format=fmt, bus=bus), paths,
                           quiet=as_json)
    if as_json:
        emit_json(summary.to_dict())
    else:
        _print(summary)
    raise typer.Exit(_exit_code(summary))


def _run(ing: Ingestor, paths: list[Path], quiet: bool) -> IngestSummary:
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
        TextColumn("{task.fields[records]:,} records"), TimeElapsedColumn(),
        console=console, disable=quiet, transient=True,
    ) as bar:
        task = bar.add_task("ingesting", total=None, records=0)

        def progress(name: str, offered: int) -> None:
            short = Path(name.split("!", maxsplit=1)[0]).name[:40]
            bar.update(task, description=short, records=offered)

        ing.progress = progress
        return ing.ingest(list(paths))


def _print(summary: IngestSummary) -> None:
    table = Table("source", "format", "status", "accepted", "rejected", "note")
    for s in summary.sources:
        name = f"{s.path}!{s.member}" if s.member else s.path
        table.add_row(name[-70:], s.format or "-", s.status, f"{s.accepted:,}",
                      f"{s.rejected:,}", s.reason or "")
    out.print(table)
    t = summary.totals()
    out.print(f"[bold]{t}[/]")


def _exit_code(summary: IngestSummary) -> int:
    if not summary.sources:
        return EXIT_NOTHING
    if summary.count("failed") == len(summary.sources):
        return EXIT_ERROR
    if summary.total("rejected") or summary.count("failed"):
        return EXIT_FINDINGS
    return EXIT_OK
