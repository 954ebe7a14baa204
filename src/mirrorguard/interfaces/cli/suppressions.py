"""``mirrorguard suppressions pending | approve``: the second person of the two-person rule.

A suppression that silences a whole detector, or would hide many stored alerts, is held when it
is added (``mirrorguard suppress``) and takes effect only when a different person approves it
here. Both people are recorded in the store and, through the bus, in the ledger.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mirrorguard.interfaces.cli.common import (
    EXIT_FINDINGS,
    EXIT_NOTHING,
    EXIT_OK,
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    emit_json,
    handle_errors,
    out,
)
from mirrorguard.interfaces.cli.incidents import AtOpt, _now, _workspace

app = typer.Typer(help="Suppressions held for a second person (two-person rule).",
                  no_args_is_help=True)


@app.command("pending")
def pending(
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Suppressions waiting for a second person's approval, oldest first."""
    with handle_errors(as_json):
        rows = [r.to_dict() for r in _workspace(config, store).book.pending()]
    if as_json:
        emit_json({"pending": rows})
    else:
        table = Table("suppression", "requested by", "reason", "scope", "created")
        for r in rows:
            scope = ", ".join(f"{k}={r[k]}" for k in ("detector", "rule") if r.get(k))
            scope = ", ".join(x for x in (scope, *r.get("entities", ())) if x)
            table.add_row(r["id"], r["created_by"], r["reason"], scope, str(r["created_at"]))
        out.print(table)
    raise typer.Exit(EXIT_FINDINGS if rows else EXIT_NOTHING)


@app.command("approve")
def approve(
    suppression_id: str = typer.Argument(..., help="id (sup-…) of a held suppression"),
    by: str = typer.Option(..., "--by", help="your id (a person other than the requester)"),
    at: str | None = AtOpt, config: Path | None = ConfigOpt, store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Approve a held suppression as the second person; it then takes effect."""
    with handle_errors(as_json):
        hidden = _workspace(config, store).approve_suppression(suppression_id, by, _now(at))
    if as_json:
        emit_json({"suppression": suppression_id, "approved_by": by,
                   "hidden_stored_alerts": hidden})
    else:
        out.print(f"approved: {suppression_id} is in force; it hides {hidden} stored alerts")
    raise typer.Exit(EXIT_OK)
