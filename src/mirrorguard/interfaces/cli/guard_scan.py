"""``mirrorguard guard scan PATH…``: scan model files without loading them.

Exit codes: 0 clean, 1 findings, 2 scan errors (and no findings), 3 nothing scanned.
``--second-opinion picklescan`` (or ``fickling``) adds that scanner's verdict per file; it never
changes the exit code.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mirrorguard.guard.artifacts.scan import ScanOptions, ScanReport, scan_paths, second_opinion
from mirrorguard.interfaces.cli.common import console, emit_json, out

_STYLE = {"CRITICAL": "bold red", "HIGH": "red", "MEDIUM": "yellow", "LOW": "cyan"}


def _print_report(report: ScanReport, opinions: dict[str, dict[str, str]]) -> None:
    table = Table("severity", "file", "member", "kind", "global / opcode @ offset", "detail")
    for f in sorted(report.findings, key=lambda f: (-f.severity, f.path, f.offset or 0)):
        where = f.global_name or ""
        if f.opcode:
            where += f" {f.opcode}@{f.offset}" if where else f"{f.opcode}@{f.offset}"
        table.add_row(f"[{_STYLE[f.severity.name]}]{f.severity.name}[/]", f.path,
                      f.member or "", f.kind, where, f.detail)
    if report.findings:
        out.print(table)
    for err in report.errors:
        console.print(f"[bold red]scan error:[/] {err.path} {err.member or ''}: {err.message}")
    for skip in report.skipped:
        console.print(f"[dim]skipped {skip.path}: {skip.reason}[/]")
    for scanner, verdicts in opinions.items():
        for path, verdict in verdicts.items():
            console.print(f"[dim]{scanner}:[/] {path}: {verdict}")
    summary = report.to_dict()["summary"]
    console.print(f"scanned {summary['scanned']}, findings {summary['findings']}, "
                  f"errors {summary['errors']}, skipped {summary['skipped']} "
                  f"(exit {report.exit_code})")


def scan(
    paths: list[Path] = typer.Argument(..., help="model files or directories"),
    json: bool = typer.Option(False, "--json", help="machine-readable JSON on stdout"),
    second: list[str] = typer.Option(
        [], "--second-opinion", help="also run picklescan and/or fickling on each file"),
    follow_symlinks: bool = typer.Option(False, "--follow-symlinks"),
    max_file_mib: int = typer.Option(8192, "--max-file-mib", help="skip larger files"),
) -> None:
    """Scan pickle, joblib, PyTorch, NumPy, Keras/HDF5 and ONNX files for unsafe constructions."""
    unknown = [s for s in second if s not in second_opinion.SCANNERS]
    if unknown:
        console.print(f"[bold red]error:[/] unknown scanner(s) {unknown}; "
                      f"known: {sorted(second_opinion.SCANNERS)}")
        raise typer.Exit(2)
    options = ScanOptions(max_file_bytes=max_file_mib * 2**20, follow_symlinks=follow_symlinks)
    report = scan_paths(list(paths), options)
    opinions = {name: {p: second_opinion.verdict(name, Path(p)) for p in report.scanned}
                for name in second}
    if json:
        doc = report.to_dict()
        if opinions:
            doc["second_opinion"] = opinions
        emit_json(doc)
    else:
        _print_report(report, opinions)
    raise typer.Exit(report.exit_code)
