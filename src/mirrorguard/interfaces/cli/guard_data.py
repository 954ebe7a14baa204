"""``mirrorguard guard data TRAIN --label COL``: screen a training set for poisoning.

Reads CSV (optionally gzip) or Parquet, runs :func:`screen_training_data`, prints a summary
(or ``--json``), and with ``--out-dir`` writes ``report.json``, ``sanitized.parquet`` (the rows
kept under the policy, label included) and ``quarantine.parquet`` (flagged rows with their row
number and reasons).

Exit codes: 0 clean (no finding above informational), 1 findings (or a fit blocked by
``--policy block``), 2 error.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import typer
from rich.table import Table

from mirrorguard.errors import FormatError, SchemaError
from mirrorguard.guard.data.findings import SEVERITY_ORDER, PoisoningBlocked, Policy, ScreenReport
from mirrorguard.guard.data.screen import ScreenConfig, ScreenResult, screen_training_data
from mirrorguard.interfaces.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    console,
    emit_json,
    handle_errors,
    out,
)
from mirrorguard.schema.alerts import Severity

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan",
          "informational": "dim"}


def read_table(path: Path) -> pl.DataFrame:
    """A CSV (``.csv``/``.csv.gz``) or Parquet file as a frame."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pl.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pl.read_csv(path, infer_schema_length=10_000)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise FormatError(f"cannot read table: {exc}", file=str(path)) from exc
    raise FormatError("expected .csv, .csv.gz or .parquet", file=str(path))


def _split(frame: pl.DataFrame, label: str, path: Path) -> tuple[pl.DataFrame, pl.Series]:
    if label not in frame.columns:
        raise SchemaError(f"label column {label!r} not found", file=str(path))
    return frame.drop(label), frame[label]


def _reference(path: Path | None, label: str) -> tuple[pl.DataFrame | None, pl.Series | None]:
    """The trusted reference; when it carries the label column too, it anchors the label screen."""
    if path is None:
        return None, None
    frame = read_table(path)
    if label in frame.columns:
        return frame.drop(label), frame[label]
    return frame, None


def _write(out_dir: Path, X: pl.DataFrame, y: pl.Series, res: ScreenResult) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(res.report.to_dict(), indent=2,
                                                    default=str) + "\n")
    res.X.with_columns(pl.Series(y.name, res.y)).write_parquet(out_dir / "sanitized.parquet")
    reasons = res.report.reasons()
    flagged = X.with_columns(y).with_row_index("row").with_columns(
        pl.Series("reasons", [",".join(r) for r in reasons])).filter(
        pl.Series(res.report.quarantined))
    flagged.write_parquet(out_dir / "quarantine.parquet")


def _print(report: ScreenReport) -> None:
    table = Table("severity", "kind", "rows", "finding")
    for f in sorted(report.findings, key=lambda f: -SEVERITY_ORDER[f.severity]):
        sev = str(f.severity)
        table.add_row(f"[{_STYLE[sev]}]{sev}[/]", f.kind, f"{len(f.rows):,}", f.title)
    if report.findings:
        out.print(table)
    console.print(report.summary().splitlines()[0])


def data(
    train: Path = typer.Argument(..., help="training set (.csv, .csv.gz or .parquet)"),
    label: str = typer.Option(..., "--label", help="label column"),
    reference: Path | None = typer.Option(None, "--reference",
                                          help="trusted earlier data (same columns; with the "
                                          "label column it also anchors the label screen)"),
    test: Path | None = typer.Option(None, "--test", help="test set, for leakage"),
    target_label: str | None = typer.Option(
        None, "--target-label", help="attacker-favourable class, e.g. the benign label"),
    policy: Policy = typer.Option(Policy.QUARANTINE, "--policy"),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="write report and datasets"),
    no_backdoor: bool = typer.Option(False, "--no-backdoor", help="skip the backdoor screen"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable report on stdout"),
) -> None:
    """Screen a training set for label flips, backdoors, duplicates, leakage and shift."""
    with handle_errors(as_json):
        X, y = _split(read_table(train), label, train)
        ref, ref_y = _reference(reference, label)
        tst = _split(read_table(test), label, test)[0] if test else None
        try:
            res = screen_training_data(X, y, policy, reference=ref, test=tst,
                                       target_label=target_label, reference_labels=ref_y,
                                       config=ScreenConfig(backdoor=not no_backdoor))
        except PoisoningBlocked as exc:
            if as_json:
                emit_json({**exc.to_dict(), "report": exc.report.to_dict()})
            else:
                _print(exc.report)
                console.print(f"[bold red]blocked:[/] {exc}")
            raise typer.Exit(EXIT_FINDINGS) from exc
        if out_dir is not None:
            _write(out_dir, X, y, res)
    if as_json:
        emit_json(res.report.to_dict())
    else:
        _print(res.report)
        if out_dir is not None:
            console.print(f"wrote {out_dir}/report.json, sanitized.parquet, quarantine.parquet")
    raise typer.Exit(EXIT_FINDINGS if res.report.has_findings(Severity.LOW) else EXIT_OK)
