"""``mirrorguard attack …``: look up ATT&CK techniques offline; refresh the shipped table.

Exit codes: 0 found / refreshed, 2 error (unreadable bundle or table), 3 technique or tactic
not found.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from mirrorguard.attack import AttackTable, default_table, refresh_table
from mirrorguard.attack.table import RESOURCE
from mirrorguard.interfaces.cli.common import EXIT_NOTHING, emit_json, handle_errors, out

app = typer.Typer(name="attack", help="MITRE ATT&CK lookups (offline) and table refresh.",
                  no_args_is_help=True)

_PACKAGED = Path(__file__).resolve().parents[2] / "attack" / RESOURCE


@app.command("refresh")
def refresh(
    bundle: Path = typer.Argument(..., help="ATT&CK STIX bundle (.json or .json.gz)"),
    output: Path = typer.Option(_PACKAGED, "--out", "-o", help="table file to write"),
    attack_version: str | None = typer.Option(None, "--attack-version",
                                              help="ATT&CK release, e.g. 18.1"),
    as_json: bool = typer.Option(False, "--json", help="JSON summary on stdout"),
) -> None:
    """Regenerate the compact ATT&CK table from a (newer) MITRE STIX bundle."""
    with handle_errors(as_json):
        table = refresh_table(bundle, output, attack_version=attack_version)
    summary = {"out": str(output), "tactics": len(table["tactics"]),
               "techniques": len(table["techniques"]), "meta": table["meta"]}
    if as_json:
        emit_json(summary)
        return
    out.print(f"wrote {output}: {summary['tactics']} tactics, {summary['techniques']} "
              f"techniques (source {table['meta']['source_file']}, "
              f"latest modified {table['meta']['latest_modified']})")


@app.command("show")
def show(
    ident: str = typer.Argument(..., help="technique id (T1059.001) or tactic (execution, TA0002)"),
    table_path: Path | None = typer.Option(None, "--table", help="a generated table file"),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout"),
) -> None:
    """Show a technique (name, tactics in kill-chain order, platforms) or a tactic."""
    with handle_errors(as_json):
        table = AttackTable.from_file(table_path) if table_path else default_table()
    tech = table.lookup(ident, follow_revoked=False)
    if tech is not None:
        orders = {t: table.tactic_order(t) for t in tech.tactics}
        if as_json:
            emit_json({**asdict(tech), "full_name": tech.full_name, "tactic_order": orders})
            return
        flags = [f for f in ("deprecated", "revoked") if getattr(tech, f)]
        out.print(f"[bold]{tech.id}[/] {tech.full_name}" + (f"  ({', '.join(flags)})"
                                                          if flags else ""))
        out.print("tactics:   " + ", ".join(f"{t} (#{o})" for t, o in orders.items()))
        out.print("platforms: " + ", ".join(tech.platforms))
        if tech.revoked_by:
            out.print(f"replaced by {tech.revoked_by}")
        return
    tac = table.tactic(ident)
    if tac is None:
        if as_json:
            emit_json({"error": "NotFound", "message": f"unknown technique or tactic {ident!r}"})
        else:
            out.print(f"unknown technique or tactic {ident!r}")
        raise typer.Exit(EXIT_NOTHING)
    if as_json:
        emit_json(asdict(tac))
    else:
        out.print(f"[bold]{tac.id}[/] {tac.name} ({tac.shortname}), kill-chain order {tac.order}")
