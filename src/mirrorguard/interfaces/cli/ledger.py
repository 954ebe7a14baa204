"""``mirrorguard ledger …``: verify the decision ledger, export and check inclusion proofs.

A ledger is a DuckDB store file (tables ``ledger_entries``/``ledger_seals``) or a JSON-lines
ledger directory (``*.ledger``). Public keys are references: ``env:NAME`` or ``file:PATH``.

Exit codes: 0 verified, 1 tampering found (or a proof that does not hold), 2 error.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from mirrorguard.errors import MirrorguardError
from mirrorguard.guard.keys import Verifier, fingerprint, load_public_key
from mirrorguard.guard.ledger import (
    VerifyReport,
    export_proof,
    open_backend,
    verify_ledger,
    verify_proof,
)
from mirrorguard.interfaces.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    console,
    emit_json,
    handle_errors,
    out,
)

app = typer.Typer(
    name="ledger", help="Verify the decision ledger; export and check inclusion proofs.",
    no_args_is_help=True,
)

KeyOpt = typer.Option(..., "--public-key", "-k", help="trusted key: env:NAME or file:PATH "
                      "(repeat for rotated keys)")


def _print_report(report: VerifyReport) -> None:
    status = "[bold green]verified[/]" if report.ok else "[bold red]TAMPERING FOUND[/]"
    out.print(f"{status}  {report.location}  ledger {report.ledger_id}")
    out.print(f"entries checked {report.entries_checked:,}, seals {report.seals_checked:,}, "
              f"sealed through seq {report.sealed_through}, unsealed {report.unsealed:,}")
    if report.ok:
        return
    out.print(f"first bad entry: seq {report.first_bad_seq}"
              + (f" (seal {report.first_bad_seal})" if report.first_bad_seal is not None else ""))
    table = Table("problem", "scope", "seq", "seal", "detail")
    for f in report.findings[:20]:
        table.add_row(f.problem.value, f.scope, str(f.seq), str(f.seal_no), f.detail)
    out.print(table)
    if report.findings_total > 20:
        out.print(f"… {report.findings_total - 20} more (use --json)")


@app.command("verify")
def verify(
    path: Path = typer.Argument(..., help="DuckDB store file or *.ledger directory"),
    public_key: list[str] = KeyOpt,
    require_sealed: bool = typer.Option(False, "--require-sealed",
                                        help="treat unsealed entries as a finding"),
    as_json: bool = typer.Option(False, "--json", help="JSON report on stdout"),
) -> None:
    """Recompute hashes, chain, Merkle roots and signatures; name the first bad entry."""
    with handle_errors(as_json):
        keys = [Verifier(load_public_key(ref)) for ref in public_key]
        backend = open_backend(path, read_only=True)
        try:
            report = verify_ledger(backend, keys)
        finally:
            backend.close()
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)
    bad = not report.ok or (require_sealed and report.unsealed > 0)
    raise typer.Exit(EXIT_FINDINGS if bad else EXIT_OK)


@app.command("proof")
def proof(
    seq: int = typer.Argument(..., help="sequence number of the entry"),
    ledger: Path = typer.Option(..., "--ledger", "-l", help="store file or *.ledger directory"),
    out_file: Path | None = typer.Option(None, "--out", "-o", help="write the proof here"),
) -> None:
    """Export the inclusion proof of one entry (JSON; checkable offline with the public key)."""
    with handle_errors(False):
        backend = open_backend(ledger, read_only=True)
        try:
            doc = export_proof(backend, seq)
        finally:
            backend.close()
    if out_file is not None:
        out_file.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {out_file}")
    else:
        emit_json(doc)


@app.command("check-proof")
def check_proof(
    file: Path = typer.Argument(..., help="proof JSON written by `ledger proof`"),
    public_key: str = typer.Option(..., "--public-key", "-k", help="env:NAME or file:PATH"),
    as_json: bool = typer.Option(False, "--json", help="JSON result on stdout"),
) -> None:
    """Check an inclusion proof offline: entry hash, Merkle audit path, seal signature."""
    with handle_errors(as_json):
        key = load_public_key(public_key)
        try:
            text = file.read_bytes()
        except OSError as exc:
            raise MirrorguardError(f"cannot read proof: {exc.strerror}", file=str(file)) from exc
        report = verify_proof(text, key)
    if as_json:
        emit_json(report.to_dict())
    elif report.ok:
        out.print(f"[bold green]proof holds[/]: seq {report.seq} ({report.kind}) is in ledger "
                  f"{report.ledger_id}, seal {report.seal_no}, key {fingerprint(key)[:16]}…")
    else:
        out.print(f"[bold red]proof does not hold[/]: {report.reason}")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FINDINGS)
