"""``mirrorguard bench SUITE``: run a registered benchmark suite and write its JSON."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.table import Table

from mirrorguard.bench.harness import BenchContext, run_suite, write_record
from mirrorguard.bench.registry import describe, suite_names
from mirrorguard.guard.data.fit_policy import TrainingPolicy, training_screen
from mirrorguard.interfaces.cli.common import (
    EXIT_OK,
    ScreenPolicyOpt,
    console,
    emit_json,
    handle_errors,
    out,
)


def bench(
    suite: str = typer.Argument(..., help="suite name, or 'list'"),
    data_dir: Path = typer.Option(Path("../shared/data"), "--data-dir", help="shared datasets"),
    out_file: Path | None = typer.Option(None, "--out", help="write the JSON record here"),
    seed: int = typer.Option(0, "--seed"),
    quick: bool = typer.Option(False, "--quick", help="smaller sizes, for smoke runs"),
    screen_policy: TrainingPolicy | None = ScreenPolicyOpt,
    as_json: bool = typer.Option(False, "--json", help="print the record as JSON"),
) -> None:
    """Run a benchmark suite on real data and write figures with their provenance."""
    if suite == "list":
        table = Table("suite", "what it measures")
        for name in suite_names():
            table.add_row(name, describe(name))
        out.print(table)
        raise typer.Exit(EXIT_OK)
    with (handle_errors(as_json), tempfile.TemporaryDirectory(prefix="mg-bench-") as tmp,
          training_screen(screen_policy)):
        ctx = BenchContext(
            data_dir=data_dir, work_dir=Path(tmp), seed=seed, quick=quick,
            progress=console.log,
        )
        record = run_suite(suite, ctx)
    if out_file is not None:
        write_record(record, out_file)
        console.print(f"wrote {out_file}")
    if as_json or out_file is None:
        emit_json(record)
